using System.Runtime.CompilerServices;
using Sluice.Collector.Storage;
using Sluice.Collector.Storage.Postgres;
using Sluice.Collector.Storage.Sqlite;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;
using Sluice.Testing;

namespace Sluice.Benchmarks.Collector;

/// <summary>Opens a fresh store of a kind for a benchmark, and cleans up after it.</summary>
internal sealed class CollectorStores : IAsyncDisposable
{
    private string? _dir;
    private PostgresCluster? _cluster;

    /// <summary>A fresh store of a kind, as the collector's <c>--store</c> names it (sqlite:PATH or postgres:CONNSTRING).</summary>
    public async Task<string> LocationAsync(string kind)
    {
        switch (kind)
        {
            case "sqlite":
                _dir = Directory.CreateTempSubdirectory("sluice-bench-").FullName;
                return "sqlite:" + Path.Combine(_dir, "bench.db");
            case "postgres":
                _cluster = await PostgresCluster.StartAsync();
                return "postgres:" + await _cluster.CreateDatabaseAsync();
            default:
                throw new ArgumentException($"unknown store kind {kind}: sqlite or postgres");
        }
    }

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

    /// <summary>
    /// CPU time used so far by the PostgreSQL cluster's processes (postmaster and its children),
    /// from /proc; zero for the in-process stores. Backends of closed connections are not counted,
    /// so measure while the store's connection pool is open.
    /// </summary>
    public TimeSpan DatabaseCpuTime()
    {
        if (_cluster is null)
        {
            return TimeSpan.Zero;
        }
        int postmaster = int.Parse(File.ReadLines(Path.Combine(_cluster.DataDirectory, "data", "postmaster.pid")).First(), System.Globalization.CultureInfo.InvariantCulture);
        long ticks = ProcStat.Processes().Where(p => p.Pid == postmaster || p.Ppid == postmaster).Sum(p => p.Cpu.Own);
        // USER_HZ is 100 on Linux.
        return TimeSpan.FromMilliseconds(ticks * 10);
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
    public Task RecordRefusalAsync(BatchRefusal refusal, CancellationToken cancellationToken) => Task.CompletedTask;
    public Task<IReadOnlyList<DeliveryFacts>> GetDeliveryFactsAsync(DeliveryQuery query, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<DeliveryFacts>>([]);
    public Task<IReadOnlyList<AgentStats>> GetAgentStatsAsync(CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<AgentStats>>([]);
    public async IAsyncEnumerable<StoredEvent> ReadEventsAsync(EventQuery query, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.CompletedTask;
        yield break;
    }
    public Task<EventPage> SearchEventsAsync(EventSearch search, CancellationToken cancellationToken) => Task.FromResult(new EventPage([], null));
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
