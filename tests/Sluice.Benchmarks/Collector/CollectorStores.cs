using System.Runtime.CompilerServices;
using Sluice.Collector.Storage;
using Sluice.Collector.Storage.Postgres;
using Sluice.Collector.Storage.Sqlite;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;

namespace Sluice.Benchmarks.Collector;

/// <summary>Opens a fresh store of a kind for a benchmark, and cleans up after it.</summary>
internal sealed class CollectorStores : IAsyncDisposable
{
    private string? _dir;
    private PostgresCluster? _cluster;

    public async Task<IEventStore> OpenAsync(string kind)
    {
        IEventStore store;
        switch (kind)
        {
            case "sqlite":
                _dir = Directory.CreateTempSubdirectory("sluice-bench-").FullName;
                store = new SqliteEventStore(Path.Combine(_dir, "bench.db"));
                break;
            case "postgres":
                _cluster = await PostgresCluster.StartAsync();
                store = new PostgresEventStore(await _cluster.CreateDatabaseAsync());
                break;
            case "discard":
                store = new DiscardingEventStore();
                break;
            default:
                throw new ArgumentException($"unknown store kind {kind}");
        }
        await store.InitializeAsync(CancellationToken.None);
        return store;
    }

    public async ValueTask DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
        if (_dir is not null)
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(_dir, recursive: true);
        }
    }
}

/// <summary>Accepts and forgets: isolates the gRPC transport's cost from any database's.</summary>
internal sealed class DiscardingEventStore : IEventStore
{
    public Task InitializeAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task<StoreOutcome> StoreBatchAsync(EventBatch batch, long receivedUnixMs, CancellationToken cancellationToken) =>
        Task.FromResult(new StoreOutcome(false, batch.Events.Count));
    public Task StoreHeartbeatAsync(AgentHeartbeat heartbeat, long receivedUnixMs, CancellationToken cancellationToken) => Task.CompletedTask;
    public Task<IReadOnlyList<AgentStats>> GetAgentStatsAsync(CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<AgentStats>>([]);
    public async IAsyncEnumerable<StoredEvent> ReadEventsAsync(EventQuery query, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.CompletedTask;
        yield break;
    }
    public Task<EventPage> SearchEventsAsync(EventSearch search, CancellationToken cancellationToken) => Task.FromResult(new EventPage([], null));
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
