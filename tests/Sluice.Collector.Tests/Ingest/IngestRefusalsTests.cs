using System.Data.Common;
using Grpc.Core;
using Sluice.Collector.Storage;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;
using static Sluice.Collector.Tests.Support.CollectorHarness;

namespace Sluice.Collector.Tests.Ingest;

/// <summary>Refusals after authentication are recorded in the store, for the token's own agent only, and recording never changes the answer.</summary>
public abstract class IngestRefusalsTests : PerStoreTests
{
    private protected IngestRefusalsTests(IStoreFactory stores) : base(stores)
    {
    }

    protected abstract DbConnection Connect(string spec);

    private static EventBatch Batch(ulong sequence, int events = 3, string agent = AgentA)
    {
        var batch = TestEvents.Batch(agent, sequence, events, firstSerial: 100 * (long)sequence);
        batch.Epoch = "0123456789abcdef0123456789abcdef";
        return batch;
    }

    private async Task<List<(string Status, long Sequence, long Events, long Count, string Digest)>> RefusalsAsync(string spec)
    {
        await using var c = Connect(spec);
        await c.OpenAsync();
        await using var command = c.CreateCommand();
        command.CommandText = "SELECT status, sequence, event_count, count, digest FROM refusals ORDER BY sequence, status";
        var rows = new List<(string, long, long, long, string)>();
        await using var r = await command.ExecuteReaderAsync();
        while (await r.ReadAsync())
        {
            rows.Add((r.GetString(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3), r.GetString(4)));
        }
        return rows;
    }

    [Fact]
    public async Task Send_InvalidBatchOfTheTokensAgent_RecordedSoItsSequenceIsNoGapAndItsEventsAreRefused()
    {
        var (store, spec) = await Stores.CreateAsync();
        await using var h = await CollectorHarness.StartAsync(store);
        var client = h.Client();
        var bad = Batch(2, events: 5);
        bad.Events[1].Records.Clear();

        await client.SendAsync(Batch(1), Bearer(TokenA));
        var e = await Assert.ThrowsAsync<RpcException>(() => client.SendAsync(bad, Bearer(TokenA)).ResponseAsync);
        await Assert.ThrowsAsync<RpcException>(() => client.SendAsync(bad, Bearer(TokenA)).ResponseAsync);
        await client.SendAsync(Batch(3), Bearer(TokenA));

        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Equal([("InvalidArgument", 2L, 5L, 2L, BatchDigest.Of(bad))], await RefusalsAsync(spec));
        var facts = (await h.Store.GetDeliveryFactsAsync(new DeliveryQuery(AgentA), CancellationToken.None)).Single();
        Assert.Equal((0L, 0L, 1L, 5L, 0L), (facts.MissingSequences, facts.DeliveryGaps, facts.RefusedBatches, facts.RefusedEvents, facts.Conflicts));
        Assert.Equal((2L, 2L), (h.Server.Counters.RefusedInvalid, h.Server.Counters.BatchesStored));
    }

    [Fact]
    public async Task Send_RefusedBatchWithOtherHostAndBoot_AgentRowKeepsWhatGoodBatchesRecorded()
    {
        var (store, _) = await Stores.CreateAsync();
        await using var h = await CollectorHarness.StartAsync(store);
        var client = h.Client();
        var bad = Batch(2);
        bad.Hostname = "not-this-host.example";
        bad.BootId = "ffffffff-ffff-ffff-ffff-ffffffffffff";
        bad.Events[0].Records.Clear();

        var good = Batch(1);
        await client.SendAsync(good, Bearer(TokenA));
        var e = await Assert.ThrowsAsync<RpcException>(() => client.SendAsync(bad, Bearer(TokenA)).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        var stats = (await h.Store.GetAgentStatsAsync(CancellationToken.None)).Single();
        Assert.Equal((good.Hostname, good.BootId), (stats.Hostname, stats.BootId));
        var facts = (await h.Store.GetDeliveryFactsAsync(new DeliveryQuery(AgentA), CancellationToken.None)).Single();
        Assert.Equal((1L, 3L), (facts.RefusedBatches, facts.RefusedEvents));
    }

    [Fact]
    public async Task Send_InvalidBatchNamingAnotherAgent_NotRecorded()
    {
        var (store, spec) = await Stores.CreateAsync();
        await using var h = await CollectorHarness.StartAsync(store);
        var bad = Batch(1, agent: AgentB);
        bad.Events[0].Records.Clear();

        var e = await Assert.ThrowsAsync<RpcException>(() => h.Client().SendAsync(bad, Bearer(TokenA)).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Empty(await RefusalsAsync(spec));
        Assert.Empty(await h.Store.GetDeliveryFactsAsync(new DeliveryQuery(), CancellationToken.None));
    }

    [Fact]
    public async Task Send_RecordingTheRefusalFails_AgentGetsTheSameStatusAndTheFailureIsCounted()
    {
        var (inner, spec) = await Stores.CreateAsync();
        await using var h = await CollectorHarness.StartAsync(new RefusalsFail(inner));
        var client = h.Client();
        var bad = Batch(5);
        bad.Events[0].Records.Clear();
        var other = Batch(1, events: 4);

        await client.SendAsync(Batch(1), Bearer(TokenA));
        var conflict = await Assert.ThrowsAsync<RpcException>(() => client.SendAsync(other, Bearer(TokenA)).ResponseAsync);
        var invalid = await Assert.ThrowsAsync<RpcException>(() => client.SendAsync(bad, Bearer(TokenA)).ResponseAsync);

        Assert.Equal(StatusCode.AlreadyExists, conflict.StatusCode);
        Assert.Equal(StatusCode.InvalidArgument, invalid.StatusCode);
        Assert.Equal((1L, 1L, 2L, 1L), (h.Server.Counters.RefusedAlreadyExists, h.Server.Counters.RefusedInvalid, h.Server.Counters.StoreFailures, h.Server.Counters.BatchesStored));
        Assert.Empty(await RefusalsAsync(spec));
    }

    [Fact]
    public async Task SendStream_KeyTakenByOtherContentMidStream_EarlierBatchesAckedAndStreamEndsWithAlreadyExists()
    {
        var (store, spec) = await Stores.CreateAsync();
        await using var h = await CollectorHarness.StartAsync(store);
        await h.Client().SendAsync(Batch(1), Bearer(TokenA));
        using var call = h.Client().SendStream(Bearer(TokenA));

        await call.RequestStream.WriteAsync(Batch(2));
        await call.RequestStream.WriteAsync(Batch(3));
        await call.RequestStream.WriteAsync(Batch(1, events: 6));
        await call.RequestStream.CompleteAsync();
        var acks = new List<Ack>();
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var ack in call.ResponseStream.ReadAllAsync())
            {
                acks.Add(ack);
            }
        });

        Assert.Equal(StatusCode.AlreadyExists, e.StatusCode);
        Assert.Contains("batch 1 of epoch '0123456789abcdef0123456789abcdef' from agent 'agent-a' refused", e.Status.Detail);
        Assert.Equal([2ul, 3ul], acks.Select(a => a.Sequence));
        Assert.Equal([("AlreadyExists", 1L, 6L, 1L, BatchDigest.Of(Batch(1, events: 6)))], await RefusalsAsync(spec));
        Assert.Equal(9, (await StoreSnapshot.EventsAsync(h.Store)).Count);
    }

    /// <summary>The real store, except that recording a refusal fails (as a store that has gone away would).</summary>
    private sealed class RefusalsFail(IEventStore inner) : DelegatingStore(inner)
    {
        public override Task RecordRefusalAsync(BatchRefusal refusal, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("injected: the store is gone");
    }
}

public sealed class SqliteIngestRefusalsTests() : IngestRefusalsTests(new SqliteStoreFactory())
{
    protected override DbConnection Connect(string spec) => new Microsoft.Data.Sqlite.SqliteConnection("Data Source=" + spec["sqlite:".Length..]);
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresIngestRefusalsTests(PostgresFixture pg) : IngestRefusalsTests(new PostgresStoreFactory(pg.Cluster))
{
    protected override DbConnection Connect(string spec) => new Npgsql.NpgsqlConnection(spec["postgres:".Length..]);
}
