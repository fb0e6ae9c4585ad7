using Grpc.Core;
using Sluice.Collector.Storage.Postgres;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;
using static Sluice.Collector.Tests.Support.CollectorHarness;

namespace Sluice.Collector.Tests.Scale;

/// <summary>
/// Two collectors on one PostgreSQL database, each with its own store object and connection pool, as two
/// processes have. The first stores a batch and its answer is lost (<see cref="IngestFaultKind.FailAfterStore"/>);
/// the agent resends to the second, which finds the key stored by the first: a duplicate, acknowledged, stored
/// once. The same key with other content at the second is a conflict, and the same batch sent to both at
/// the same moment is stored by one of them only.
/// </summary>
/// <remarks>
/// With one collector the lost ack is <c>Ingest/IngestFaultsTests</c>; the agent's failover between two real
/// collectors under a kill is <c>Sluice.Agent.Tests/EndToEnd/FailoverEndToEndTests</c>, where a lost ack may or
/// may not happen. Here it happens every time, at a known batch.
/// </remarks>
[Collection(PostgresCollection.Name)]
public sealed class ResendToAnotherCollectorTests(PostgresFixture postgres)
{
    private static EventBatch Batch(ulong sequence, int events = 10, string epoch = "7e5e0d0000000000000000000000a11c")
    {
        var batch = TestEvents.Batch(AgentA, sequence, events, firstSerial: (long)sequence * 100,
            startUnixMs: DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000 * 1000 - 60_000);
        batch.Epoch = epoch;
        batch.EpochStartSequence = 1;
        return batch;
    }

    private async Task<(CollectorHarness First, CollectorHarness Second, string Store)> TwoCollectorsAsync(ScriptedIngestFaults? firstFaults = null)
    {
        string connection = await postgres.Cluster.CreateDatabaseAsync();
        var first = await CollectorHarness.StartAsync(await OpenAsync(connection), faults: firstFaults);
        var second = await CollectorHarness.StartAsync(await OpenAsync(connection));
        return (first, second, "postgres:" + connection);
    }

    private static async Task<PostgresEventStore> OpenAsync(string connection)
    {
        var store = new PostgresEventStore(connection);
        await store.InitializeAsync(CancellationToken.None);
        return store;
    }

    [Fact]
    public async Task AckLostAtOneCollector_ResendToAnother_IsDuplicateAndStoredOnce()
    {
        var faults = new ScriptedIngestFaults().Then(new IngestFault(IngestFaultKind.FailAfterStore, StatusCode.Unavailable));
        var (first, second, store) = await TwoCollectorsAsync(faults);
        await using var a = first;
        await using var b = second;
        var batch = Batch(1);

        var lost = await Assert.ThrowsAsync<RpcException>(async () => await a.Client().SendAsync(batch, Bearer(TokenA)));
        Assert.Equal(StatusCode.Unavailable, lost.StatusCode);
        var ack = await b.Client().SendAsync(batch, Bearer(TokenA));
        var next = await b.Client().SendAsync(Batch(2), Bearer(TokenA));

        Assert.True(ack.Duplicate);
        Assert.Equal(1ul, ack.Sequence);
        Assert.False(next.Duplicate);
        Assert.Equal(1, faults.Applied);
        // The first stored it (its answer was what got lost), the second recognised the resend.
        Assert.Equal(1, a.Server.Counters.BatchesStored);
        Assert.Equal(1, b.Server.Counters.BatchesStored);
        Assert.Equal(1, b.Server.Counters.Duplicates);
        Assert.Equal([["1", "10"], ["2", "10"]],
            (await StoreQuery.RowsAsync(store, "SELECT b.sequence, count(e.serial) FROM batches b JOIN events e ON e.batch_id = b.id GROUP BY b.sequence ORDER BY 1"))
            .Select(r => r.Select(v => v!).ToArray()).ToArray());
        Assert.Equal(20, await StoreQuery.LongAsync(store, "SELECT count(DISTINCT serial) FROM events"));
        var stats = (await b.Store.GetAgentStatsAsync(CancellationToken.None)).Single();
        Assert.Equal((2L, 20L, 1L), (stats.Batches, stats.Events, stats.Duplicates));
    }

    [Fact]
    public async Task StoredAtOneCollector_OtherContentUnderTheKeyAtAnother_IsAConflictNotStored()
    {
        var (first, second, store) = await TwoCollectorsAsync();
        await using var a = first;
        await using var b = second;

        Assert.False((await a.Client().SendAsync(Batch(1), Bearer(TokenA))).Duplicate);
        var conflict = await Assert.ThrowsAsync<RpcException>(async () => await b.Client().SendAsync(Batch(1, events: 11), Bearer(TokenA)));

        Assert.Equal(StatusCode.AlreadyExists, conflict.StatusCode);
        Assert.Equal(1, b.Server.Counters.RefusedAlreadyExists);
        Assert.Equal(10, await StoreQuery.LongAsync(store, "SELECT count(*) FROM events"));
        Assert.Equal(1, await StoreQuery.LongAsync(store, "SELECT count(*) FROM refusals WHERE status = 'AlreadyExists'"));
    }

    [Fact]
    public async Task SameBatchToTwoCollectorsAtOnce_OneStoresIt_TheOtherAnswersDuplicate()
    {
        var (first, second, store) = await TwoCollectorsAsync();
        await using var a = first;
        await using var b = second;
        var clientA = a.Client();
        var clientB = b.Client();
        const int Batches = 40;

        for (ulong s = 1; s <= Batches; s++)
        {
            var batch = Batch(s);
            var acks = await Task.WhenAll(
                clientA.SendAsync(batch, Bearer(TokenA)).ResponseAsync,
                clientB.SendAsync(batch, Bearer(TokenA)).ResponseAsync);
            Assert.Single(acks, x => !x.Duplicate);
            Assert.Single(acks, x => x.Duplicate);
        }

        Assert.Equal(Batches, a.Server.Counters.BatchesStored + b.Server.Counters.BatchesStored);
        Assert.Equal(Batches, a.Server.Counters.Duplicates + b.Server.Counters.Duplicates);
        Assert.Equal(Batches, await StoreQuery.LongAsync(store, "SELECT count(*) FROM batches"));
        Assert.Equal(Batches * 10, await StoreQuery.LongAsync(store, "SELECT count(*) FROM events"));
        Assert.Equal(Batches * 10, await StoreQuery.LongAsync(store, "SELECT count(DISTINCT serial) FROM events"));
    }
}
