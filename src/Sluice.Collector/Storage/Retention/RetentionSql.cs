using System.Data.Common;
using System.Globalization;

namespace Sluice.Collector.Storage.Retention;

/// <summary>
/// What a prune does after the events are gone, and what it records and reads, in the SQL both stores accept. Each
/// delete takes at most <see cref="PruneRequest.MaxRowsPerTransaction"/> rows in its own transaction, so that a
/// running collector's writes (on SQLite, its one writer) never wait long behind it.
/// </summary>
internal static class RetentionSql
{
    /// <summary>The rows that went with the events: batches and their chunks, heartbeats, refusals.</summary>
    internal readonly record struct Removed(long Batches, long EventChunks, long Heartbeats, long Refusals);

    /// <summary>What would go with the events (a dry run): heartbeats and refusals before the cutoff, and batches whose interval starts before it.</summary>
    public static async Task<Removed> CountAsync(DbConnection c, long cutoff, CancellationToken ct) => new(
        await ScalarAsync(c, null, "SELECT COUNT(*) FROM batches WHERE interval_start_ms < @cutoff", cutoff, ct),
        0,
        await ScalarAsync(c, null, "SELECT COUNT(*) FROM heartbeats WHERE time_ms < @cutoff", cutoff, ct),
        await ScalarAsync(c, null, $"SELECT COUNT(*) FROM refusals WHERE {RefusalPruned}", cutoff, ct));

    /// <summary>
    /// Once the events before <paramref name="cutoff"/> are gone (their counts per batch added to <c>pruned_batches</c>):
    /// the batches none of whose events remain and whose interval starts before the cutoff, with their chunks; the
    /// heartbeats before it; and the refusals of sequences those batches' epochs no longer start at.
    /// </summary>
    /// <remarks>
    /// A batch whose events span the cutoff keeps its row and every chunk: a kept event is read from its chunk,
    /// and a chunk holds 64 consecutive events of the batch, some of which may be before the cutoff and some after.
    /// It goes, with them, when a later prune has taken the rest of its events.
    /// </remarks>
    public static async Task<Removed> DeleteRestAsync(DbConnection c, SqlDialect d, long cutoff, int maxRows, Action<string> progress, CancellationToken ct)
    {
        long batches = 0, chunks = 0;
        // Batches none of whose events remain, then batches that never had any.
        foreach (string candidates in new[]
        {
            $"SELECT b.id FROM pruned_batches p JOIN batches b ON b.id = p.batch_id WHERE p.events >= b.event_count AND b.interval_start_ms < @cutoff LIMIT {maxRows}",
            $"SELECT id FROM batches WHERE interval_start_ms < @cutoff AND event_count = 0 LIMIT {maxRows}",
        })
        {
            while (true)
            {
                await using var tx = await c.BeginTransactionAsync(ct);
                var ids = await IdsAsync(c, tx, candidates, cutoff, ct);
                if (ids.Count == 0)
                {
                    break;
                }
                string list = string.Join(", ", ids.Select(id => id.ToString(CultureInfo.InvariantCulture)));
                // The delivery facts must not take the deleted sequences for missing ones.
                await ExecAsync(c, tx, $"""
                    INSERT INTO pruned_epochs (agent, epoch, next_sequence)
                    SELECT agent, epoch, MAX(sequence) + 1 FROM batches WHERE id IN ({list}) GROUP BY agent, epoch
                    ON CONFLICT (agent, epoch) DO UPDATE SET next_sequence = {d.Greatest}(pruned_epochs.next_sequence, excluded.next_sequence)
                    """, ct);
                chunks += await ExecAsync(c, tx, $"DELETE FROM event_chunks WHERE batch_id IN ({list})", ct);
                await ExecAsync(c, tx, $"DELETE FROM pruned_batches WHERE batch_id IN ({list})", ct);
                batches += await ExecAsync(c, tx, $"DELETE FROM batches WHERE id IN ({list})", ct);
                await tx.CommitAsync(ct);
            }
        }
        progress($"batches: {batches} deleted, with {chunks} event chunks");

        // Heartbeats per agent: their index is (agent, time_ms).
        string row = d.Kind == StoreKind.Postgres ? "ctid" : "rowid";
        long heartbeats = 0;
        List<long> agents;
        await using (var tx = await c.BeginTransactionAsync(ct))
        {
            agents = await IdsAsync(c, tx, "SELECT id FROM agents", cutoff, ct);
            await tx.CommitAsync(ct);
        }
        foreach (long agent in agents)
        {
            heartbeats += await DeleteBoundedAsync(c, cutoff, $"""
                DELETE FROM heartbeats WHERE {row} IN (
                    SELECT {row} FROM heartbeats WHERE agent = {agent.ToString(CultureInfo.InvariantCulture)} AND time_ms < @cutoff LIMIT {maxRows})
                """, ct);
        }
        progress($"heartbeats: {heartbeats} deleted");
        long refusals = await DeleteBoundedAsync(c, cutoff,
            $"DELETE FROM refusals WHERE {row} IN (SELECT {row} FROM refusals WHERE {RefusalPruned} LIMIT {maxRows})", ct);
        progress($"refusals: {refusals} deleted");
        return new Removed(batches, chunks, heartbeats, refusals);
    }

    /// <summary>
    /// A refusal last seen before the cutoff, of a sequence below where its epoch now starts: one that stays would be
    /// a sequence neither stored nor missing, and one that went while its neighbours stay would turn into a gap.
    /// </summary>
    private const string RefusalPruned = """
        last_ms < @cutoff AND sequence < COALESCE(
            (SELECT p.next_sequence FROM pruned_epochs p WHERE p.agent = refusals.agent AND p.epoch = refusals.epoch), 0)
        """;

    /// <summary>Records a prune that was run (not a dry run).</summary>
    /// <summary>
    /// What both stores do once the events of the pruned days are gone (or counted, on a dry run): the rows of the
    /// other tables that belong only to pruned time, the result, and its record in <c>prunes</c> (not for a dry run).
    /// </summary>
    public static async Task<PruneResult> FinishAsync(DbConnection c, StoreKind kind, PruneRequest request, long startedUnixMs,
        IEnumerable<PrunedDay> days, long events, Action<string> progress, CancellationToken ct)
    {
        var rest = request.DryRun
            ? await CountAsync(c, request.CutoffUnixMs, ct)
            : await DeleteRestAsync(c, SqlDialect.For(kind), request.CutoffUnixMs, request.MaxRowsPerTransaction, progress, ct);
        var result = new PruneResult
        {
            StartedUnixMs = startedUnixMs,
            FinishedUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
            DryRun = request.DryRun,
            Days = [.. days.OrderBy(d => d.DayUnixMs)],
            Events = events,
            Batches = rest.Batches,
            EventChunks = rest.EventChunks,
            Heartbeats = rest.Heartbeats,
            Refusals = rest.Refusals,
        };
        if (!request.DryRun)
        {
            await RecordAsync(c, kind, request, result, ct);
        }
        return result;
    }

    public static async Task RecordAsync(DbConnection c, StoreKind kind, PruneRequest request, PruneResult result, CancellationToken ct)
    {
        var days = result.Days.Where(d => d.Skipped is null).ToList();
        await using var tx = await c.BeginTransactionAsync(ct);
        await using var command = c.CreateCommand();
        command.Transaction = tx;
        command.CommandText = """
            INSERT INTO prunes (started_ms, finished_ms, host, user_name, version, store, older_than_days, cutoff_ms, days, first_day_ms, last_day_ms,
                                days_skipped, events, batches, event_chunks, heartbeats, refusals, status)
            VALUES (@started, @finished, @host, @user, @version, @store, @days_asked, @cutoff, @days, @first_day, @last_day,
                    @skipped, @events, @batches, @chunks, @heartbeats, @refusals, @status)
            """;
        StoreSql.Add(command, "started", result.StartedUnixMs);
        StoreSql.Add(command, "finished", result.FinishedUnixMs);
        StoreSql.Add(command, "host", request.Host);
        StoreSql.Add(command, "user", request.User);
        StoreSql.Add(command, "version", Sluice.Protocol.ProductVersion.Current);
        StoreSql.Add(command, "store", kind == StoreKind.Postgres ? "postgres" : "sqlite");
        StoreSql.Add(command, "days_asked", (long)request.OlderThanDays);
        StoreSql.Add(command, "cutoff", request.CutoffUnixMs);
        StoreSql.Add(command, "days", (long)days.Count);
        StoreSql.Add(command, "first_day", days.Count == 0 ? null : days.Min(d => d.DayUnixMs));
        StoreSql.Add(command, "last_day", days.Count == 0 ? null : days.Max(d => d.DayUnixMs));
        StoreSql.Add(command, "skipped", result.DaysSkipped);
        StoreSql.Add(command, "events", result.Events);
        StoreSql.Add(command, "batches", result.Batches);
        StoreSql.Add(command, "chunks", result.EventChunks);
        StoreSql.Add(command, "heartbeats", result.Heartbeats);
        StoreSql.Add(command, "refusals", result.Refusals);
        StoreSql.Add(command, "status", result.Status);
        await command.ExecuteNonQueryAsync(ct);
        await tx.CommitAsync(ct);
    }

    /// <summary>The columns of <see cref="PruneRecord"/>, in its order.</summary>
    public const string PruneColumns =
        "started_ms, finished_ms, host, user_name, version, store, older_than_days, cutoff_ms, days, days_skipped, events, batches, event_chunks, heartbeats, refusals, status";

    /// <summary>A row of <see cref="PruneColumns"/>.</summary>
    public static PruneRecord ReadPrune(DbDataReader r) => new(
        r.GetInt64(0), r.GetInt64(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetString(5), (int)r.GetInt64(6), r.GetInt64(7),
        r.GetInt64(8), r.GetInt64(9), r.GetInt64(10), r.GetInt64(11), r.GetInt64(12), r.GetInt64(13), r.GetInt64(14), r.GetString(15));

    /// <summary>The oldest and newest event time (the time indexes' ends) and the last prune.</summary>
    public static async Task<RetainedRange> ReadRetainedRangeAsync(DbConnection c, CancellationToken ct)
    {
        long? oldest = null, newest = null;
        await using (var command = c.CreateCommand())
        {
            // Two statements, each the end of the time index (on PostgreSQL, of its first or last partition).
            command.CommandText = "SELECT (SELECT MIN(time_ms) FROM events), (SELECT MAX(time_ms) FROM events)";
            await using var r = await command.ExecuteReaderAsync(ct);
            if (await r.ReadAsync(ct))
            {
                oldest = r.IsDBNull(0) ? null : r.GetInt64(0);
                newest = r.IsDBNull(1) ? null : r.GetInt64(1);
            }
        }
        PruneRecord? last = null;
        await using (var command = c.CreateCommand())
        {
            command.CommandText = $"SELECT {PruneColumns} FROM prunes ORDER BY started_ms DESC, id DESC LIMIT 1";
            await using var r = await command.ExecuteReaderAsync(ct);
            if (await r.ReadAsync(ct))
            {
                last = ReadPrune(r);
            }
        }
        return new RetainedRange(oldest, newest, last);
    }

    /// <summary>Runs <paramref name="delete"/> (bounded by its LIMIT) in transactions of its own until it deletes nothing.</summary>
    private static async Task<long> DeleteBoundedAsync(DbConnection c, long cutoff, string delete, CancellationToken ct)
    {
        long total = 0;
        while (true)
        {
            await using var tx = await c.BeginTransactionAsync(ct);
            await using var command = c.CreateCommand();
            command.Transaction = tx;
            command.CommandText = delete;
            StoreSql.Add(command, "cutoff", cutoff);
            int n = await command.ExecuteNonQueryAsync(ct);
            await tx.CommitAsync(ct);
            total += n;
            if (n == 0)
            {
                return total;
            }
        }
    }

    private static async Task<List<long>> IdsAsync(DbConnection c, DbTransaction? tx, string sql, long cutoff, CancellationToken ct)
    {
        await using var command = c.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        if (sql.Contains("@cutoff", StringComparison.Ordinal))
        {
            StoreSql.Add(command, "cutoff", cutoff);
        }
        var ids = new List<long>();
        await using var r = await command.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            ids.Add(r.GetInt64(0));
        }
        return ids;
    }

    private static async Task<long> ScalarAsync(DbConnection c, DbTransaction? tx, string sql, long cutoff, CancellationToken ct)
    {
        await using var command = c.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        StoreSql.Add(command, "cutoff", cutoff);
        return Convert.ToInt64(await command.ExecuteScalarAsync(ct), CultureInfo.InvariantCulture);
    }

    internal static async Task<int> ExecAsync(DbConnection c, DbTransaction? tx, string sql, CancellationToken ct)
    {
        await using var command = c.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        return await command.ExecuteNonQueryAsync(ct);
    }
}
