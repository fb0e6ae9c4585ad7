using System.Data.Common;
using System.Text;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Storage;

/// <summary>The event search query, with the parts that differ between the stores passed in.</summary>
/// <remarks>
/// The substring and suffix tests are store functions rather than LIKE, because LIKE ignores ASCII
/// case in SQLite and not in PostgreSQL: both stores must find the same events.
/// </remarks>
internal static class EventSearchSql
{
    /// <param name="contains">SQL true when column contains the parameter, e.g. <c>instr({0}, {1}) &gt; 0</c>.</param>
    /// <param name="endsWith">SQL true when column ends with the parameter.</param>
    public static void Prepare(DbCommand command, EventSearch s, Func<string, string, string> contains, Func<string, string, string> endsWith)
    {
        var sql = new StringBuilder("""
            SELECT a.agent_id, b.hostname, e.time_ms, e.serial, e.first_type, e.record_types, e.syscall, e.success, e.exit,
                   e.pid, e.uid, e.auid, e.euid, e.key, e.exe, e.comm, e.argv, e.batch_id, e.ordinal, e.payload
            FROM events e JOIN batches b ON b.id = e.batch_id JOIN agents a ON a.id = e.agent
            WHERE e.time_ms >= @from AND e.time_ms < @to
            """);
        StoreSql.Add(command, "from", s.FromUnixMs);
        StoreSql.Add(command, "to", s.ToUnixMs);
        if (s.AgentId is not null)
        {
            sql.Append(" AND e.agent = (SELECT id FROM agents WHERE agent_id = @agent)");
            StoreSql.Add(command, "agent", s.AgentId);
        }
        if (s.Key is not null)
        {
            sql.Append(" AND e.key = @key");
            StoreSql.Add(command, "key", s.Key);
        }
        if (s.User is long user)
        {
            sql.Append(" AND (e.auid = @user OR e.uid = @user)");
            StoreSql.Add(command, "user", user);
        }
        if (s.Exe is not null)
        {
            if (s.Exe.Contains('/'))
            {
                sql.Append(" AND e.exe = @exe");
                StoreSql.Add(command, "exe", s.Exe);
            }
            else
            {
                sql.Append(" AND ").Append(endsWith("e.exe", "@exe"));
                StoreSql.Add(command, "exe", "/" + s.Exe);
            }
        }
        if (s.ArgvContains is not null)
        {
            sql.Append(" AND ").Append(contains("e.argv", "@argv"));
            StoreSql.Add(command, "argv", s.ArgvContains);
        }
        if (s.Before is EventCursor c)
        {
            // The plain bound lets the time index stop early; the row comparison is the exact cut.
            sql.Append(" AND e.time_ms <= @bt AND (e.time_ms, e.batch_id, e.ordinal) < (@bt, @bb, @bo)");
            StoreSql.Add(command, "bt", c.TimeUnixMs);
            StoreSql.Add(command, "bb", c.BatchId);
            StoreSql.Add(command, "bo", c.Ordinal);
        }
        sql.Append(" ORDER BY e.time_ms DESC, e.batch_id DESC, e.ordinal DESC LIMIT @limit");
        StoreSql.Add(command, "limit", (long)s.Limit + 1);
        command.CommandText = sql.ToString();
    }

    /// <summary>Reads the rows of <see cref="Prepare"/>: at most Limit hits, and the next cursor when there was one more row.</summary>
    public static async Task<EventPage> ReadAsync(DbDataReader r, int limit, EventPayloadReader payloads, CancellationToken ct)
    {
        var hits = new List<EventHit>();
        bool more = false;
        while (await r.ReadAsync(ct))
        {
            if (hits.Count == limit)
            {
                more = true;
                break;
            }
            // The account names are only in the payload, and only when the agent resolved them.
            var names = await payloads.ReadAsync(r.GetFieldValue<byte[]>(19), r.GetInt64(17), r.GetInt64(18), ct);
            hits.Add(new EventHit
            {
                AgentId = r.GetString(0),
                Hostname = r.GetString(1),
                TimeUnixMs = r.GetInt64(2),
                Serial = r.GetInt64(3),
                FirstType = r.GetString(4),
                RecordTypes = Text(r, 5),
                Syscall = Text(r, 6),
                Success = r.IsDBNull(7) ? null : Convert.ToBoolean(r.GetValue(7), System.Globalization.CultureInfo.InvariantCulture),
                Exit = Int(r, 8),
                Pid = Int(r, 9),
                Uid = Int(r, 10),
                Auid = Int(r, 11),
                Euid = Int(r, 12),
                Key = Text(r, 13),
                Exe = Text(r, 14),
                Comm = Text(r, 15),
                Argv = Text(r, 16),
                UidName = names.HasUidName ? names.UidName : null,
                AuidName = names.HasAuidName ? names.AuidName : null,
                EuidName = names.HasEuidName ? names.EuidName : null,
                Cursor = new EventCursor(r.GetInt64(2), r.GetInt64(17), r.GetInt64(18)),
            });
        }
        return new EventPage(hits, more ? hits[^1].Cursor : null);
    }

    private static string? Text(DbDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);

    private static long? Int(DbDataReader r, int i) => r.IsDBNull(i) ? null : r.GetInt64(i);
}
