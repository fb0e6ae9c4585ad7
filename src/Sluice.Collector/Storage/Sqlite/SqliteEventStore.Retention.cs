using System.Globalization;
using Microsoft.Data.Sqlite;
using Sluice.Collector.Storage.Retention;

namespace Sluice.Collector.Storage.Sqlite;

/// <summary>Retention on SQLite: events are deleted day by day, a bounded number per transaction.</summary>
/// <remarks>
/// The prune has a connection of its own. Each of its transactions takes the file's one write lock (BEGIN
/// IMMEDIATE) for at most <see cref="PruneRequest.MaxRowsPerTransaction"/> rows, so a collector writing to the same
/// file waits for one such transaction at most (its busy timeout is far longer). Freed pages stay in the file and
/// are reused by new rows: the file does not shrink unless it is vacuumed (VACUUM, with the collector stopped).
/// </remarks>
internal sealed partial class SqliteEventStore : IRetentionStore
{
    private const long DayMs = 86_400_000;

    public async Task<PruneResult> PruneAsync(PruneRequest request, Action<string> progress, CancellationToken cancellationToken)
    {
        long started = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await using var connection = await OpenReaderAsync(cancellationToken);
        var days = new List<PrunedDay>();
        long events = 0;
        // From each day with events to the next one that has any (the time index), not through every calendar day.
        for (long? t = await OldestFromAsync(connection, long.MinValue, cancellationToken); t is long ms && Floor(ms) < request.CutoffUnixMs;
             t = await OldestFromAsync(connection, Floor(ms) + DayMs, cancellationToken))
        {
            long day = Floor(ms);
            long n = request.DryRun
                ? await CountDayAsync(connection, day, cancellationToken)
                : await DeleteDayAsync(connection, day, request.MaxRowsPerTransaction, cancellationToken);
            if (n == 0)
            {
                continue;
            }
            events += n;
            string name = DateTimeOffset.FromUnixTimeMilliseconds(day).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
            days.Add(new PrunedDay(day, name, n));
            progress($"{name}: {n} events{(request.DryRun ? ", would be deleted" : ", deleted")}");
        }
        return await RetentionSql.FinishAsync(connection, StoreKind.Sqlite, request, started, days, events, progress, cancellationToken);
    }

    public async Task<RetainedRange> GetRetainedRangeAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenReaderAsync(cancellationToken);
        return await RetentionSql.ReadRetainedRangeAsync(connection, cancellationToken);
    }

    private static long Floor(long unixMs) => Math.DivRem(unixMs, DayMs) is var (q, r) && r < 0 ? (q - 1) * DayMs : q * DayMs;

    private static async Task<long?> OldestFromAsync(SqliteConnection c, long from, CancellationToken ct)
    {
        await using var command = c.CreateCommand();
        command.CommandText = "SELECT MIN(time_ms) FROM events WHERE time_ms >= @from";
        command.Parameters.AddWithValue("from", from);
        return await command.ExecuteScalarAsync(ct) is long t ? t : null;
    }

    private static async Task<long> CountDayAsync(SqliteConnection c, long day, CancellationToken ct)
    {
        await using var command = c.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM events WHERE time_ms >= @lo AND time_ms < @hi";
        command.Parameters.AddWithValue("lo", day);
        command.Parameters.AddWithValue("hi", day + DayMs);
        return (long)(await command.ExecuteScalarAsync(ct))!;
    }

    /// <summary>
    /// Deletes the events of one UTC day, at most <paramref name="maxRows"/> per transaction, counting them per batch
    /// into pruned_batches in the same transaction; the events deleted.
    /// </summary>
    private static async Task<long> DeleteDayAsync(SqliteConnection c, long day, int maxRows, CancellationToken ct)
    {
        long total = 0;
        while (true)
        {
            // BEGIN IMMEDIATE: the write lock first, so that the rows read are the rows deleted.
            await using var tx = (SqliteTransaction)await c.BeginTransactionAsync(ct);
            var ids = new List<long>();
            await using (var select = c.CreateCommand())
            {
                select.Transaction = tx;
                select.CommandText = $"SELECT id FROM events WHERE time_ms >= @lo AND time_ms < @hi LIMIT {maxRows}";
                select.Parameters.AddWithValue("lo", day);
                select.Parameters.AddWithValue("hi", day + DayMs);
                await using var r = await select.ExecuteReaderAsync(ct);
                while (await r.ReadAsync(ct))
                {
                    ids.Add(r.GetInt64(0));
                }
            }
            if (ids.Count == 0)
            {
                return total;
            }
            string list = string.Join(", ", ids.Select(id => id.ToString(CultureInfo.InvariantCulture)));
            await RetentionSql.ExecAsync(c, tx, $"""
                INSERT INTO pruned_batches (batch_id, events)
                SELECT batch_id, COUNT(*) FROM events WHERE id IN ({list}) GROUP BY batch_id
                ON CONFLICT (batch_id) DO UPDATE SET events = pruned_batches.events + excluded.events
                """, ct);
            total += await RetentionSql.ExecAsync(c, tx, $"DELETE FROM events WHERE id IN ({list})", ct);
            await tx.CommitAsync(ct);
        }
    }
}
