using System.Data.Common;
using System.Text;

namespace Sluice.Collector.Storage;

/// <summary>Read queries written once in the SQL that SQLite and PostgreSQL both accept.</summary>
internal static class StoreSql
{
    /// <summary>Per agent totals. Sums saturate (<see cref="SaturatingSum"/>): a hostile counter cannot make stats fail or go negative.</summary>
    public static readonly string AgentStats = $"""
        SELECT a.agent_id, a.hostname, a.boot_id, a.duplicates, a.last_seen_ms, a.last_heartbeat_ms, a.rules_hash,
               COALESCE(b.n, 0), COALESCE(b.events, 0), COALESCE(b.max_seq, 0),
               {string.Join(", ", LossColumns.Names.Select(n => $"COALESCE(b.{n}, 0)"))},
               COALESCE(b.time_adjusted_events, 0)
        FROM agents a LEFT JOIN (
            SELECT agent, COUNT(*) AS n, {SaturatingSum("event_count")} AS events, MAX(sequence) AS max_seq,
                   {string.Join(", ", LossColumns.Names.Select(n => $"{SaturatingSum(n)} AS {n}"))},
                   {SaturatingSum("time_adjusted_events")} AS time_adjusted_events
            FROM batches GROUP BY agent
        ) b ON b.agent = a.id
        """;

    /// <summary>
    /// SUM(<paramref name="column"/>) of non-negative integers, exact up to 2^63-1 and 2^63-1 beyond, in SQL both
    /// stores accept. A plain SUM fails past 2^63-1 (SQLite: "integer overflow"; PostgreSQL: "bigint out of range"
    /// when its numeric sum is cast back). Each value is split at 2^32: the sums of the high and low halves cannot
    /// overflow below 2^31 rows, and are put back together only when the total fits.
    /// </summary>
    public static string SaturatingSum(string column)
    {
        const string half = "4294967296";
        string lo = $"CAST(SUM({column} % {half}) AS BIGINT)";
        string high = $"(CAST(SUM({column} / {half}) AS BIGINT) + {lo} / {half})";
        return $"CASE WHEN {high} >= 2147483648 THEN 9223372036854775807 ELSE {high} * {half} + {lo} % {half} END";
    }

    public static async Task<IReadOnlyList<AgentStats>> ReadAgentStatsAsync(DbCommand command, CancellationToken ct)
    {
        command.CommandText = AgentStats;
        var list = new List<AgentStats>();
        await using var r = await command.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            const int loss0 = 10;
            list.Add(new AgentStats
            {
                AgentId = r.GetString(0),
                Hostname = r.GetString(1),
                BootId = r.GetString(2),
                Duplicates = r.GetInt64(3),
                LastSeenUnixMs = r.GetInt64(4),
                LastHeartbeatUnixMs = r.IsDBNull(5) ? null : r.GetInt64(5),
                RulesHash = r.GetString(6),
                Batches = r.GetInt64(7),
                Events = r.GetInt64(8),
                MaxSequence = (ulong)r.GetInt64(9),
                Loss = LossColumns.Totals(i => r.GetInt64(loss0 + i)),
                TimeAdjustedEvents = r.GetInt64(loss0 + LossColumns.Names.Length),
            });
        }
        list.Sort((x, y) => string.CompareOrdinal(x.AgentId, y.AgentId));
        return list;
    }

    /// <summary>SELECT agent_id, hostname, sequence, payload, batch_id, ordinal for an <see cref="EventQuery"/>, in export order.</summary>
    public static void PrepareEventQuery(DbCommand command, EventQuery query, SqlDialect dialect)
    {
        var sql = new StringBuilder("""
            SELECT a.agent_id, b.hostname, b.sequence, e.payload, e.batch_id, e.ordinal
            FROM events e JOIN batches b ON b.id = e.batch_id JOIN agents a ON a.id = e.agent
            WHERE 1 = 1
            """);
        if (query.AgentId is not null)
        {
            sql.Append(" AND e.agent = (SELECT id FROM agents WHERE agent_id = @agent)");
            Add(command, "agent", query.AgentId);
        }
        if (query.FromUnixMs is long from)
        {
            sql.Append(" AND e.time_ms >= @from");
            Add(command, "from", from);
        }
        if (query.ToUnixMs is long to)
        {
            sql.Append(" AND e.time_ms < @to");
            Add(command, "to", to);
        }
        query.Context.AppendSql(sql, command, dialect);
        sql.Append(" ORDER BY e.time_ms, e.batch_id, e.ordinal");
        command.CommandText = sql.ToString();
    }

    /// <summary>The events of a query prepared by <see cref="PrepareEventQuery"/>, with their exact copies.</summary>
    public static async IAsyncEnumerable<StoredEvent> ReadEventsAsync(
        DbDataReader reader, EventPayloadReader payloads, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct,
        ContextFilter? filter = null)
    {
        while (await reader.ReadAsync(ct))
        {
            var e = await payloads.ReadAsync(reader.GetFieldValue<byte[]>(3), reader.GetInt64(4), reader.GetInt64(5), ct);
            // The bounded columns matched; the exact copy decides (ContextFilter.Matches).
            if (filter is { IsEmpty: false } && !filter.Matches(e))
            {
                continue;
            }
            yield return new StoredEvent(reader.GetString(0), reader.GetString(1), (ulong)reader.GetInt64(2), e);
        }
    }

    public static void Add(DbCommand command, string name, object? value)
    {
        var p = command.CreateParameter();
        p.ParameterName = name;
        p.Value = value ?? DBNull.Value;
        command.Parameters.Add(p);
    }
}
