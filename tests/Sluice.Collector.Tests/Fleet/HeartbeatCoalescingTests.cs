using Sluice.Collector.Storage.Postgres;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Tests.Fleet;

/// <summary>
/// PostgreSQL writes the heartbeats that arrive together in one transaction (<c>PostgresEventStore.Heartbeats.cs</c>):
/// every acknowledged heartbeat is stored as before, fewer transactions than heartbeats, and a heartbeat that cannot be
/// written fails its own call only, never acknowledged.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class HeartbeatCoalescingTests(PostgresFixture pg)
{
    private const long Base = TestEvents.BaseUnixMs;

    [Fact]
    public async Task ManyHeartbeatsAtOnce_AllStored_InFewerTransactions_AgentRowsAsOneByOne()
    {
        var (store, spec) = await new PostgresStoreFactory(pg.Cluster).CreateAsync();
        await using var _ = store;
        var postgres = Assert.IsType<PostgresEventStore>(store);
        const int agents = 100, beats = 5;
        // Each agent's beats in a shuffled order: the agent row keeps the greatest time whatever the order of writing.
        var all = Enumerable.Range(0, agents).SelectMany(a => Enumerable.Range(0, beats).Select(b => (Agent: a, Beat: b)))
            .OrderBy(x => (x.Agent * 7919 + x.Beat * 104729) % 1009).ToList();
        await Task.WhenAll(all.Select(x => Task.Run(() => store.StoreHeartbeatAsync(Beat(x.Agent, x.Beat), Base + x.Beat * 30_000 + 5, CancellationToken.None))));

        Assert.Equal(agents * beats, await StoreQuery.LongAsync(spec, "SELECT COUNT(*) FROM heartbeats"));
        Assert.Equal(agents * beats, await StoreQuery.LongAsync(spec, "SELECT COUNT(DISTINCT (agent, time_ms)) FROM heartbeats"));
        Assert.True(postgres.HeartbeatTransactions < agents * beats,
            $"{agents * beats} heartbeats at once took {postgres.HeartbeatTransactions} transactions: not written together");
        var stats = await store.GetAgentStatsAsync(CancellationToken.None);
        Assert.Equal(agents, stats.Count);
        Assert.All(stats, s => Assert.Equal((long?)(Base + (beats - 1) * 30_000), s.LastHeartbeatUnixMs));
        Assert.Equal(agents, await StoreQuery.LongAsync(spec, "SELECT COUNT(*) FROM agent_rules"));
    }

    [Fact]
    public async Task OneHeartbeatThatCannotBeWritten_FailsItsOwnCallOnly_NeverAcknowledged()
    {
        var (store, spec) = await new PostgresStoreFactory(pg.Cluster).CreateAsync();
        await using var _ = store;
        // PostgreSQL text cannot hold NUL: this one fails in the database, in whichever flush it lands.
        var bad = Beat(999, 0);
        bad.Hostname = "host\0with-nul";
        var calls = Enumerable.Range(0, 60).Select(a => (Agent: a, Call: Task.Run(() => store.StoreHeartbeatAsync(Beat(a, 0), Base + 5, CancellationToken.None)))).ToList();
        var badCall = Task.Run(() => store.StoreHeartbeatAsync(bad, Base + 5, CancellationToken.None));
        calls.AddRange(Enumerable.Range(60, 60).Select(a => (Agent: a, Call: Task.Run(() => store.StoreHeartbeatAsync(Beat(a, 0), Base + 5, CancellationToken.None)))));

        await Assert.ThrowsAnyAsync<Exception>(() => badCall);
        await Task.WhenAll(calls.Select(c => c.Call));
        var stored = (await StoreQuery.RowsAsync(spec, "SELECT a.agent_id FROM heartbeats h JOIN agents a ON a.id = h.agent")).Select(r => r[0]!).ToHashSet();
        Assert.Equal(Enumerable.Range(0, 120).Select(Id).ToHashSet(), stored);
        Assert.Equal(0, await StoreQuery.LongAsync(spec, $"SELECT COUNT(*) FROM agents WHERE agent_id = '{Id(999)}'"));

        // The queue is free again: one more heartbeat is written and acknowledged.
        await store.StoreHeartbeatAsync(Beat(5, 1), Base + 30_005, CancellationToken.None);
        Assert.Equal(121, await StoreQuery.LongAsync(spec, "SELECT COUNT(*) FROM heartbeats"));
    }

    [Fact]
    public async Task HeartbeatsWhileABatchTransactionHoldsTheAgentRows_NotBlocked()
    {
        // A transaction that inserts a batch holds a KEY SHARE lock on its agent's row (the foreign key) until it commits.
        // The heartbeats of those agents must not wait for it: under a fleet's batches they queued behind them.
        var (store, spec) = await new PostgresStoreFactory(pg.Cluster).CreateAsync();
        await using var _ = store;
        const int agents = 20;
        await Task.WhenAll(Enumerable.Range(0, agents).Select(a => store.StoreHeartbeatAsync(Beat(a, 0), Base + 5, CancellationToken.None)));

        await using var holder = await StoreQuery.OpenAsync(spec);
        await using var tx = await holder.BeginTransactionAsync();
        await using (var share = holder.CreateCommand())
        {
            share.Transaction = tx;
            share.CommandText = "SELECT id FROM agents FOR KEY SHARE";
            await share.ExecuteNonQueryAsync();
        }
        // Several at once, so that flushes of more than one (which lock their rows first) are among them.
        var beats = Enumerable.Range(0, agents).SelectMany(a => new[] { 1, 2 }.Select(n => Task.Run(() => store.StoreHeartbeatAsync(Beat(a, n), Base + n * 30_000 + 5, CancellationToken.None)))).ToArray();
        var all = Task.WhenAll(beats);
        // Under Npgsql's command timeout (30 s): past it a blocked flush fails, and its heartbeats written again alone (no
        // lock statement) would pass. Unblocked, they take milliseconds.
        var finished = await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(15)));
        bool done = finished == all;
        await tx.RollbackAsync();
        await all;
        Assert.True(done, "heartbeats waited for a transaction that only holds KEY SHARE locks on their agents' rows");
        Assert.Equal(agents * 3, await StoreQuery.LongAsync(spec, "SELECT COUNT(*) FROM heartbeats"));
    }

    private static string Id(int n) => $"beat-{n:D3}";

    private static AgentHeartbeat Beat(int agent, int n) => new()
    {
        AgentId = Id(agent),
        Hostname = Id(agent) + ".example",
        BootId = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        TimeUnixMs = Base + n * 30_000,
        StartedUnixMs = Base - 1000,
        Mode = "unicast",
        RulesHash = "sha256:4f2a",
        Rules = { "-a always,exit -F arch=b64 -S execve -k exec" },
    };
}
