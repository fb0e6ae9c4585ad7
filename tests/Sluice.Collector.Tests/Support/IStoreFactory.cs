using Sluice.Collector.Storage;
using Sluice.Collector.Storage.Postgres;
using Sluice.Collector.Storage.Sqlite;

namespace Sluice.Collector.Tests.Support;

/// <summary>Makes a fresh, initialized store of one kind for each test.</summary>
internal interface IStoreFactory
{
    StoreKind Kind { get; }

    /// <summary>A new empty store, and the --store value the CLI verbs would use for it.</summary>
    /// <param name="timeBounds">The event time bounds <c>serve</c> would give it; none by default (every event under its own time).</param>
    Task<(IEventStore Store, string Spec)> CreateAsync(EventTimeBounds? timeBounds = null);
}

internal sealed class SqliteStoreFactory : IStoreFactory, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-sqlite-").FullName;
    private int _n;

    public StoreKind Kind => StoreKind.Sqlite;

    public async Task<(IEventStore Store, string Spec)> CreateAsync(EventTimeBounds? timeBounds = null)
    {
        string path = Path.Combine(_dir, $"store{Interlocked.Increment(ref _n)}.db");
        var store = new SqliteEventStore(path, new SqliteStoreOptions { TimeBounds = timeBounds });
        await store.InitializeAsync(CancellationToken.None);
        return (store, "sqlite:" + path);
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }
}

internal sealed class PostgresStoreFactory(PostgresCluster cluster) : IStoreFactory
{
    public StoreKind Kind => StoreKind.Postgres;

    public async Task<(IEventStore Store, string Spec)> CreateAsync(EventTimeBounds? timeBounds = null)
    {
        string cs = await cluster.CreateDatabaseAsync();
        var store = new PostgresEventStore(cs, timeBounds);
        await store.InitializeAsync(CancellationToken.None);
        return (store, "postgres:" + cs);
    }
}
