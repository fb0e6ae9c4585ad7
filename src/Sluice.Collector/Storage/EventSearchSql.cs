using System.Data.Common;
using System.Text;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Storage;

/// <summary>The event search query, in a store's dialect.</summary>
/// <remarks>
/// The substring and suffix tests are the dialect's (<see cref="SqlDialect.Contains"/>, <see cref="SqlDialect.EndsWith"/>).
/// The key and exe columns are bounded (<see cref="IndexedText"/>): the query compares them with the search term
/// bounded the same way, and each row found is then checked against the event's exact copy, so that two long
/// values that share their ends are told apart. Rows the check drops are replaced by reading on.
/// </remarks>
internal static class EventSearchSql
{
    /// <summary>One page of <paramref name="s"/> on <paramref name="connection"/>: the query, then the exact check, until the page is full or the rows run out.</summary>
    public static async Task<EventPage> SearchAsync(
        DbConnection connection, SqlDialect dialect, EventSearch s, EventPayloadReader payloads, CancellationToken ct)
    {
        var hits = new List<EventHit>();
        var query = s;
        while (true)
        {
            await using var command = connection.CreateCommand();
            Prepare(command, dialect, query);
            await using var reader = await command.ExecuteReaderAsync(ct);
            var (rows, last) = await ReadAsync(reader, s, payloads, hits, ct);
            if (hits.Count > s.Limit)
            {
                hits.RemoveAt(hits.Count - 1);
                return new EventPage(hits, hits[^1].Cursor);
            }
            if (rows <= query.Limit || last is null)
            {
                return new EventPage(hits, null);
            }
            // Every row of this query was read and some failed the exact check: go on after the last one.
            query = query with { Before = last };
        }
    }

    public static void Prepare(DbCommand command, SqlDialect dialect, EventSearch s)
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
            StoreSql.Add(command, "key", IndexedText.Bound(s.Key));
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
                StoreSql.Add(command, "exe", IndexedText.Bound(s.Exe));
            }
            else
            {
                sql.Append(" AND ").Append(dialect.EndsWith("e.exe", "@exe"));
                StoreSql.Add(command, "exe", "/" + s.Exe);
            }
        }
        if (s.ArgvContains is not null)
        {
            sql.Append(" AND ").Append(dialect.Contains("e.argv", "@argv"));
            StoreSql.Add(command, "argv", s.ArgvContains);
        }
        s.Context.AppendSql(sql, command, dialect);
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

    /// <summary>
    /// Adds the rows of <see cref="Prepare"/> that pass the exact check to <paramref name="hits"/>, stopping at one more
    /// than the page holds; returns the rows read and the cursor of the last one.
    /// </summary>
    private static async Task<(int Rows, EventCursor? Last)> ReadAsync(
        DbDataReader r, EventSearch s, EventPayloadReader payloads, List<EventHit> hits, CancellationToken ct)
    {
        int rows = 0;
        EventCursor? last = null;
        while (hits.Count <= s.Limit && await r.ReadAsync(ct))
        {
            rows++;
            var cursor = new EventCursor(r.GetInt64(2), r.GetInt64(17), r.GetInt64(18));
            last = cursor;
            // The exact copy: for the check, and for the account names, which only it holds (when the agent resolved them).
            var e = await payloads.ReadAsync(r.GetFieldValue<byte[]>(19), r.GetInt64(17), r.GetInt64(18), ct);
            if (!Matches(s, e))
            {
                continue;
            }
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
                UidName = e.HasUidName ? e.UidName : null,
                AuidName = e.HasAuidName ? e.AuidName : null,
                EuidName = e.HasEuidName ? e.EuidName : null,
                Context = e.Context,
                Cursor = cursor,
            });
        }
        return (rows, last);
    }

    /// <summary>The key and exe filters against the event's exact copy (its text, as the columns hold it, but whole).</summary>
    private static bool Matches(EventSearch s, Event e)
    {
        if (s.Key is not null && EventSummary.SearchText(e.Key) != s.Key)
        {
            return false;
        }
        if (s.Exe is not null)
        {
            string exe = EventSummary.SearchText(e.Exe) ?? "";
            if (!(s.Exe.Contains('/') ? exe == s.Exe : exe.EndsWith("/" + s.Exe, StringComparison.Ordinal)))
            {
                return false;
            }
        }
        return s.Context.Matches(e);
    }

    private static string? Text(DbDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);

    private static long? Int(DbDataReader r, int i) => r.IsDBNull(i) ? null : r.GetInt64(i);
}
