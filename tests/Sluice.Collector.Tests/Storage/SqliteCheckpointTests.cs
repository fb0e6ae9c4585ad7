using Sluice.Collector.Storage.Sqlite;
using Sluice.Collector.Tests.Support;

namespace Sluice.Collector.Tests.Storage;

public sealed class SqliteCheckpointTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-checkpoint-").FullName;

    [Fact]
    public async Task StoreBatchAsync_SustainedWrites_CopiedToTheDatabaseBesideTheWriterAndTheWalStartsOver()
    {
        string path = Path.Combine(_dir, "store.db");
        const int resetPages = 64; // 1 MiB of 16 KiB pages
        var store = new SqliteEventStore(path, new SqliteStoreOptions { WalResetPages = resetPages });
        await store.InitializeAsync(CancellationToken.None);
        await using var _ = store;
        long walHighest = 0;
        ulong next = 0;

        // Four callers in flight, as under load: the writer never idles long enough for a checkpoint of its own.
        await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
        {
            ulong sequence;
            while ((sequence = Interlocked.Increment(ref next)) <= 120)
            {
                var batch = TestEvents.Batch("a", sequence, 500, firstSerial: (long)sequence * 500, startUnixMs: TestEvents.BaseUnixMs + (long)sequence * 5000);
                Assert.False((await store.StoreBatchAsync(batch, 1, CancellationToken.None)).Duplicate);
                long wal = new FileInfo(path + "-wal").Length;
                InterlockedMax(ref walHighest, wal);
            }
        }));
        long database = new FileInfo(path).Length;
        long walAtEnd = new FileInfo(path + "-wal").Length;

        Assert.True(store.BackgroundCheckpoints > 0);
        // While the store is open (closing checkpoints anyway), the rows reached the database file...
        Assert.True(database > 8L * 1024 * 1024, $"database file {database} bytes");
        // ...and the WAL started over again and again instead of holding everything written.
        Assert.True(walHighest < database / 2, $"WAL reached {walHighest} bytes, database {database}");
        Assert.True(walAtEnd < database / 2, $"WAL {walAtEnd} bytes at the end, database {database}");
        Assert.Equal(120 * 500, (await store.GetAgentStatsAsync(CancellationToken.None)).Single().Events);
    }

    private static void InterlockedMax(ref long target, long value)
    {
        long seen;
        while (value > (seen = Interlocked.Read(ref target)) && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
