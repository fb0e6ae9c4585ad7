using System.Data.Common;
using System.Text;

namespace Sluice.Collector.Storage;

/// <summary>Read queries written once in the SQL that SQLite and PostgreSQL both accept.</summary>
internal static class StoreSql
{
    public static readonly string AgentStats = $"""
        SELECT a.agent_id, a.hostname, a.boot_id, a.duplicates, a.last_seen_ms, a.last_heartbeat_ms, a.rules_hash,
               COALESCE(b.n, 0), COALESCE(b.events, 0), COALESCE(b.max_seq, 0),
               {string.Join(", ", LossColumns.Names.Select(n => $"COALESCE(b.{n}, 0)"))},
               COALESCE(b.time_adjusted_events, 0)
        FROM agents a LEFT JOIN (
            SELECT agent, COUNT(*) AS n, CAST(SUM(event_count) AS BIGINT) AS events, MAX(sequence) AS max_seq,
                   {string.Join(", ", LossColumns.Names.Select(n => $"CAST(SUM({n}) AS BIGINT) AS {n}"))},
                   CAST(SUM(time_adjusted_events) AS BIGINT) AS time_adjusted_events
            FROM batches GROUP BY agent
        ) b ON b.agent = a.id
        """;

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
    public static void PrepareEventQuery(DbCommand command, EventQuery query)
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
        sql.Append(" ORDER BY e.time_ms, e.batch_id, e.ordinal");
        command.CommandText = sql.ToString();
    }

    /// <summary>The events of a query prepared by <see cref="PrepareEventQuery"/>, with their exact copies.</summary>
    public static async IAsyncEnumerable<StoredEvent> ReadEventsAsync(
        DbDataReader reader, EventPayloadReader payloads, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        while (await reader.ReadAsync(ct))
        {
            var e = await payloads.ReadAsync(reader.GetFieldValue<byte[]>(3), reader.GetInt64(4), reader.GetInt64(5), ct);
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
