using System.Globalization;
using Npgsql;
using Sluice.Collector.Storage.Retention;

namespace Sluice.Collector.Storage.Postgres;

/// <summary>Retention on PostgreSQL: whole day partitions go, one per transaction, under a short lock timeout.</summary>
/// <remarks>
/// <para>
/// A partition is first detached and renamed (<c>prune_events_pYYYYMMDD</c>) in one short transaction: that needs
/// the events table to itself for an instant (ACCESS EXCLUSIVE; writers queue behind a waiting request), so it waits
/// at most <see cref="PruneRequest.LockTimeout"/> and is tried again a few times, then skipped and reported. From
/// then on no collector can write into it: a COPY by its old name fails with 42P01 and one routed through the
/// parent finds no partition, and the collector makes the partition again and retries (<see cref="StoreBatchAsync"/>).
/// Then, with no lock anyone waits on, its events are counted per batch into <c>pruned_batches</c> and it is
/// dropped, in one transaction: a prune stopped between the two finds the renamed table next time and finishes it.
/// </para>
/// <para>
/// Not DETACH ... CONCURRENTLY: it cannot run in a transaction with the rename, and one interrupted leaves the
/// partition half detached until someone finalizes it by hand.
/// </para>
/// </remarks>
internal sealed partial class PostgresEventStore : IRetentionStore
{
    /// <summary>Held for the whole of a prune (a session lock): one prune of a store at a time.</summary>
    private const long PruneLock = 7_361_636_502;

    private const string Detached = "prune_";

    public async Task<PruneResult> PruneAsync(PruneRequest request, Action<string> progress, CancellationToken cancellationToken)
    {
        long started = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using (var take = new NpgsqlCommand($"SELECT pg_try_advisory_lock({PruneLock})", connection))
        {
            if (!(bool)(await take.ExecuteScalarAsync(cancellationToken))!)
            {
                throw new InvalidOperationException($"{Name}: another prune is running");
            }
        }
        try
        {
            long cutoffDay = PostgresSchema.Day(request.CutoffUnixMs);
            var days = new List<PrunedDay>();
            long events = 0;
            // What an earlier prune detached and did not get to drop.
            foreach (var (day, table) in await TablesAsync(connection, Detached + "events_p%", partitions: false, cancellationToken))
            {
                if (!request.DryRun)
                {
                    long n = await DropDetachedAsync(connection, table, cancellationToken);
                    events += n;
                    days.Add(new PrunedDay(day * PostgresSchema.DayMs, table, n));
                    progress($"{Day(day)}  {table}: {n} events (left detached by an earlier prune), dropped");
                }
            }
            foreach (var (day, partition) in await TablesAsync(connection, "events_p%", partitions: true, cancellationToken))
            {
                if (day >= cutoffDay)
                {
                    continue;
                }
                if (request.DryRun)
                {
                    long n = await CountAsync(connection, partition, cancellationToken);
                    events += n;
                    days.Add(new PrunedDay(day * PostgresSchema.DayMs, partition, n));
                    progress($"{Day(day)}  {partition}: {n} events, would be dropped");
                    continue;
                }
                string? skipped = await DetachAsync(connection, partition, request, cancellationToken);
                if (skipped is not null)
                {
                    days.Add(new PrunedDay(day * PostgresSchema.DayMs, partition, 0, skipped));
                    progress($"{Day(day)}  {partition}: skipped, {skipped}");
                    continue;
                }
                long dropped = await DropDetachedAsync(connection, Detached + partition, cancellationToken);
                events += dropped;
                days.Add(new PrunedDay(day * PostgresSchema.DayMs, partition, dropped));
                progress($"{Day(day)}  {partition}: {dropped} events, dropped");
            }
            return await RetentionSql.FinishAsync(connection, StoreKind.Postgres, request, started, days, events, progress, cancellationToken);
        }
        finally
        {
            await using var release = new NpgsqlCommand($"SELECT pg_advisory_unlock({PruneLock})", connection);
            await release.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }

    public async Task<RetainedRange> GetRetainedRangeAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        return await RetentionSql.ReadRetainedRangeAsync(connection, cancellationToken);
    }

    /// <summary>Detaches and renames <paramref name="partition"/>; null when done, else why it was skipped.</summary>
    private static async Task<string?> DetachAsync(NpgsqlConnection connection, string partition, PruneRequest request, CancellationToken ct)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                await using var tx = await connection.BeginTransactionAsync(ct);
                await ExecAsync(connection, $"SET LOCAL lock_timeout = {(long)request.LockTimeout.TotalMilliseconds}", ct);
                await ExecAsync(connection, $"ALTER TABLE events DETACH PARTITION {partition}", ct);
                await ExecAsync(connection, $"ALTER TABLE {partition} RENAME TO {Detached}{partition}", ct);
                await tx.CommitAsync(ct);
                return null;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.LockNotAvailable)
            {
                if (attempt >= request.LockAttempts)
                {
                    return $"the events table was busy for {attempt} tries of {(long)request.LockTimeout.TotalMilliseconds} ms";
                }
                // Let the writers that queued behind the request through before asking again.
                await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt), ct);
            }
        }
    }

    /// <summary>Counts a detached day's events per batch into pruned_batches and drops it, in one transaction; its events.</summary>
    private static async Task<long> DropDetachedAsync(NpgsqlConnection connection, string table, CancellationToken ct)
    {
        await using var tx = await connection.BeginTransactionAsync(ct);
        long events;
        await using (var count = new NpgsqlCommand($"""
            WITH c AS (SELECT batch_id, COUNT(*) AS n FROM {table} GROUP BY batch_id),
            added AS (
                INSERT INTO pruned_batches (batch_id, events) SELECT batch_id, n FROM c
                ON CONFLICT (batch_id) DO UPDATE SET events = pruned_batches.events + excluded.events
            )
            SELECT COALESCE(SUM(n), 0)::bigint FROM c
            """, connection, tx))
        {
            events = (long)(await count.ExecuteScalarAsync(ct))!;
        }
        await ExecAsync(connection, $"DROP TABLE {table}", ct);
        await tx.CommitAsync(ct);
        return events;
    }

    private static async Task<long> CountAsync(NpgsqlConnection connection, string table, CancellationToken ct)
    {
        await using var count = new NpgsqlCommand($"SELECT COUNT(*) FROM {table}", connection);
        return (long)(await count.ExecuteScalarAsync(ct))!;
    }

    /// <summary>
    /// The day tables named like <paramref name="pattern"/>: the partitions of events, or tables detached from it, in
    /// day order. Names that are not a day's (events_pYYYYMMDD) are left alone.
    /// </summary>
    private static async Task<List<(long Day, string Table)>> TablesAsync(NpgsqlConnection connection, string pattern, bool partitions, CancellationToken ct)
    {
        string sql = partitions
            ? """
              SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
              WHERE i.inhparent = 'events'::regclass AND c.relname LIKE $1
              """
            : """
              SELECT c.relname FROM pg_class c
              WHERE c.relkind = 'r' AND c.relname LIKE $1 AND c.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = 'events'::regclass)
              AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)
              """;
        var tables = new List<(long, string)>();
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.Add(new NpgsqlParameter { Value = pattern });
        await using var r = await command.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            string name = r.GetString(0);
            string date = name[(name.LastIndexOf("events_p", StringComparison.Ordinal) + "events_p".Length)..];
            if (date.Length == 8 && DateTime.TryParseExact(date, "yyyyMMdd", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var d))
            {
                tables.Add((PostgresSchema.Day(new DateTimeOffset(d, TimeSpan.Zero).ToUnixTimeMilliseconds()), name));
            }
        }
        tables.Sort();
        return tables;
    }

    private static string Day(long day) =>
        DateTimeOffset.FromUnixTimeMilliseconds(day * PostgresSchema.DayMs).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
}
