using Npgsql;
using Sluice.Collector.Storage;
using Sluice.Collector.Storage.Postgres;
using Sluice.Collector.Storage.Retention;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;
using static Sluice.Collector.Tests.Retention.RetentionData;

namespace Sluice.Collector.Tests.Retention;

/// <summary>PostgreSQL with several collectors: upgrades at once, a partition dropped under a collector's feet, and a prune during ingest.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresRetentionTests(PostgresFixture pg)
{
    private readonly PostgresStoreFactory _stores = new(pg.Cluster);

    private static async Task<long> ScalarAsync(string connectionString, string sql)
    {
        await using var c = new NpgsqlConnection(connectionString);
        await c.OpenAsync();
        await using var command = new NpgsqlCommand(sql, c);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Four stores, each with its own data source (pool), initialized at the same moment; each disposed after.</summary>
    private static async Task<List<long?>> OpenAtOnceAsync(string connectionString)
    {
        var stores = Enumerable.Range(0, 4).Select(_ => new PostgresEventStore(connectionString)).ToList();
        try
        {
            using var start = new ManualResetEventSlim();
            var opens = stores.Select(s => Task.Run(async () =>
            {
                start.Wait();
                await s.InitializeAsync(CancellationToken.None);
                return s.UpgradedFrom;
            })).ToList();
            start.Set();
            return [.. await Task.WhenAll(opens)];
        }
        finally
        {
            foreach (var s in stores)
            {
                await s.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task InitializeAsync_VersionSevenStoreOpenedByFourAtOnce_OneUpgradesAllSucceed_DataIntact()
    {
        var (store, spec) = await _stores.CreateAsync();
        string cs = spec["postgres:".Length..];
        await using (store)
        {
            await store.StoreBatchAsync(TestEvents.Batch("a", 1, 70), 1, CancellationToken.None);
            await store.StoreBatchAsync(TestEvents.Batch("b", 1, 5, startUnixMs: TestEvents.BaseUnixMs + DayMs), 2, CancellationToken.None);
        }
        // Schema 7 as a collector of that version made it: all of 8 but the retention tables.
        await ScalarAsync(cs, Storage.EventStoreTests.SchemaSevenSql + " UPDATE schema_info SET version = 7; SELECT 0");

        var upgradedFrom = await OpenAtOnceAsync(cs);

        Assert.Equal([7L], upgradedFrom.OfType<long>());
        Assert.Equal(3, upgradedFrom.Count(u => u is null));
        Assert.Equal(StoreSchema.Version, await ScalarAsync(cs, "SELECT version FROM schema_info"));
        Assert.Equal(1, await ScalarAsync(cs, "SELECT COUNT(*) FROM schema_info"));
        Assert.Equal(75, await ScalarAsync(cs, "SELECT COUNT(*) FROM events"));
        Assert.Equal(2 + 1, await ScalarAsync(cs, "SELECT COUNT(*) FROM event_chunks"));
        Assert.Equal(0, await ScalarAsync(cs, "SELECT COUNT(*) FROM prunes"));
        await using var reopened = await StoreLocation.Parse(spec).OpenAsync(mustExist: true, CancellationToken.None);
        Assert.Equal(75, (await SnapshotEventsAsync(reopened)).Count);
    }

    [Fact]
    public async Task InitializeAsync_EmptyDatabaseOpenedByFourAtOnce_AllSucceedOneSchema()
    {
        string cs = await pg.Cluster.CreateDatabaseAsync();

        var upgradedFrom = await OpenAtOnceAsync(cs);

        Assert.All(upgradedFrom, u => Assert.Null(u));
        Assert.Equal(StoreSchema.Version, await ScalarAsync(cs, "SELECT version FROM schema_info"));
        Assert.Equal(1, await ScalarAsync(cs, "SELECT COUNT(*) FROM schema_info"));
    }

    [Fact]
    public async Task StoreBatchAsync_PartitionDroppedByAnotherProcess_MadeAgainAndStored()
    {
        var (store, spec) = await _stores.CreateAsync();
        string cs = spec["postgres:".Length..];
        await using var _ = store;
        await store.StoreBatchAsync(TestEvents.Batch("a", 1, 10), 1, CancellationToken.None);
        string partition = PostgresSchema.PartitionName(PostgresSchema.Day(TestEvents.BaseUnixMs));
        // What a prune of another process does, as far as this store can tell: the partition it made is gone.
        await ScalarAsync(cs, $"DROP TABLE {partition}; SELECT 0");

        // A batch of that one day is copied into the partition by name (42P01 when it is gone) ...
        var sameDay = await store.StoreBatchAsync(TestEvents.Batch("a", 2, 10, firstSerial: 100, startUnixMs: TestEvents.BaseUnixMs + 1000), 2, CancellationToken.None);
        await ScalarAsync(cs, $"DROP TABLE {partition}; SELECT 0");
        // ... and one across two days through the parent (no partition for the row).
        var twoDays = await store.StoreBatchAsync(TestEvents.Batch("a", 3, 10, firstSerial: 200, startUnixMs: TestEvents.BaseUnixMs + DayMs - 50), 3, CancellationToken.None);

        Assert.Equal((10, 10), (sameDay.EventsStored, twoDays.EventsStored));
        Assert.Equal(5, await ScalarAsync(cs, $"SELECT COUNT(*) FROM {partition}"));
        // The first two batches' events went with the partitions dropped under them.
        Assert.Equal(10, await ScalarAsync(cs, "SELECT COUNT(*) FROM events"));
    }

    [Fact]
    public async Task Prune_EventsTableBusyLongerThanTheLockTimeout_DaySkippedAndReported_NextPruneTakesIt()
    {
        var (store, spec) = await _stores.CreateAsync();
        string cs = spec["postgres:".Length..];
        await using (store)
        {
            await store.StoreBatchAsync(TestEvents.Batch("a", 1, 10), 1, CancellationToken.None);
        }
        long cutoff = TestEvents.BaseUnixMs + DayMs;
        var request = new PruneRequest(400, cutoff, DryRun: false) { LockTimeout = TimeSpan.FromMilliseconds(50), LockAttempts = 2 };
        await using var pruner = (PostgresEventStore)await StoreLocation.Parse(spec).OpenAsync(mustExist: true, CancellationToken.None);
        PruneResult busy;
        // A long report: its transaction holds the events table (ACCESS SHARE) until it ends.
        await using (var reader = new NpgsqlConnection(cs))
        {
            await reader.OpenAsync();
            await using var tx = await reader.BeginTransactionAsync();
            await using (var read = new NpgsqlCommand("SELECT COUNT(*) FROM events", reader, tx))
            {
                await read.ExecuteScalarAsync();
            }
            busy = await pruner.PruneAsync(request, _ => { }, CancellationToken.None);
        }

        var day = Assert.Single(busy.Days);
        Assert.Contains("the events table was busy for 2 tries of 50 ms", day.Skipped);
        Assert.Equal((0L, 1L, 0L), (busy.DaysRemoved, busy.DaysSkipped, busy.Events));
        Assert.StartsWith("partial: 1 days skipped", busy.Status);
        Assert.Equal(10, await ScalarAsync(cs, "SELECT COUNT(*) FROM events"));
        Assert.Equal(1, await ScalarAsync(cs, "SELECT COUNT(*) FROM prunes WHERE days = 0 AND days_skipped = 1 AND status LIKE 'partial%'"));

        var free = await pruner.PruneAsync(request, _ => { }, CancellationToken.None);

        Assert.Equal((1L, 0L, 10L, 1L), (free.DaysRemoved, free.DaysSkipped, free.Events, free.Batches));
        Assert.Equal(0, await ScalarAsync(cs, "SELECT COUNT(*) FROM events"));
    }

    private static Task<List<StoredEvent>> SnapshotEventsAsync(IEventStore store, long? from = null) =>
        StoreSnapshot.EventsAsync(store, new EventQuery(FromUnixMs: from));
}
