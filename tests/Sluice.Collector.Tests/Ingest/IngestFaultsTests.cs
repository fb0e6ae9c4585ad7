using Grpc.Core;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;
using static Sluice.Collector.Tests.Support.CollectorHarness;

namespace Sluice.Collector.Tests.Ingest;

/// <summary>
/// Scripted faults on a real collector. A client that resends each batch until it is acknowledged
/// (as the shipper does) must end with every event of a known sequence stored exactly once.
/// </summary>
public abstract class IngestFaultsTests : PerStoreTests
{
    private protected IngestFaultsTests(IStoreFactory stores) : base(stores)
    {
    }

    private static EventBatch[] KnownSequence(int batches) =>
        [.. Enumerable.Range(1, batches).Select(s => TestEvents.Batch(AgentA, (ulong)s, 10, firstSerial: s * 100, startUnixMs: TestEvents.BaseUnixMs + s * 1000))];

    /// <summary>Resends until acknowledged; returns the status codes seen on the way.</summary>
    private static async Task<List<StatusCode>> SendUntilAckedAsync(Sluice.Protocol.V1.Ingest.IngestClient client, EventBatch batch, TimeSpan? deadline = null)
    {
        var seen = new List<StatusCode>();
        for (int attempt = 0; attempt < 10; attempt++)
        {
            try
            {
                await client.SendAsync(batch, Bearer(TokenA), deadline: deadline is null ? null : DateTime.UtcNow + deadline);
                return seen;
            }
            catch (RpcException e)
            {
                seen.Add(e.StatusCode);
            }
        }
        throw new InvalidOperationException($"batch {batch.Sequence} never acknowledged: {string.Join(", ", seen)}");
    }

    private static async Task AssertStoredExactlyOnceAsync(CollectorHarness h, EventBatch[] sent)
    {
        var stats = (await h.Store.GetAgentStatsAsync(CancellationToken.None)).Single();
        Assert.Equal((long)sent.Length, stats.Batches);
        Assert.Equal(sent.Sum(b => (long)b.Events.Count), stats.Events);
        var stored = (await StoreSnapshot.EventsAsync(h.Store)).Select(e => (e.Sequence, e.Event.Serial)).ToList();
        var expected = sent.SelectMany(b => b.Events.Select(e => (b.Sequence, e.Serial))).ToList();
        Assert.Equal(expected.Order(), stored.Order());
    }

    [Theory]
    [InlineData(StatusCode.Unavailable)]
    [InlineData(StatusCode.Internal)]
    [InlineData(StatusCode.ResourceExhausted)]
    public async Task Send_ErrorsBeforeStore_RetriedBatchesStoredExactlyOnce(StatusCode code)
    {
        var faults = new ScriptedIngestFaults()
            .Then(IngestFault.None)
            .Then(new IngestFault(IngestFaultKind.FailBeforeStore, code), times: 3)
            .Then(IngestFault.None)
            .Then(new IngestFault(IngestFaultKind.FailBeforeStore, code));
        await using var h = await CollectorHarness.StartAsync((await Stores.CreateAsync()).Store, faults: faults);
        var client = h.Client();
        var sent = KnownSequence(6);

        var seen = new List<StatusCode>();
        foreach (var b in sent)
        {
            seen.AddRange(await SendUntilAckedAsync(client, b));
        }

        Assert.Equal(Enumerable.Repeat(code, 4), seen);
        Assert.Equal(4, faults.Applied);
        await AssertStoredExactlyOnceAsync(h, sent);
        Assert.Equal(0, (await h.Store.GetAgentStatsAsync(CancellationToken.None)).Single().Duplicates);
    }

    [Fact]
    public async Task Send_AckLostAfterStore_ResendIsDuplicateAndStoredOnce()
    {
        var faults = new ScriptedIngestFaults()
            .Then(new IngestFault(IngestFaultKind.FailAfterStore, StatusCode.Unavailable))
            .Then(IngestFault.None)
            .Then(new IngestFault(IngestFaultKind.FailAfterStore, StatusCode.Internal), times: 2);
        await using var h = await CollectorHarness.StartAsync((await Stores.CreateAsync()).Store, faults: faults);
        var client = h.Client();
        var sent = KnownSequence(3);

        var seen = new List<StatusCode>();
        foreach (var b in sent)
        {
            seen.AddRange(await SendUntilAckedAsync(client, b));
        }

        Assert.Equal([StatusCode.Unavailable, StatusCode.Internal, StatusCode.Internal], seen);
        await AssertStoredExactlyOnceAsync(h, sent);
        // Batch 1's resend and batch 2's two resends were each recognised.
        Assert.Equal(3, (await h.Store.GetAgentStatsAsync(CancellationToken.None)).Single().Duplicates);
    }

    [Fact]
    public async Task Send_SlowCollectorBeyondDeadline_RetriedBatchStoredOnce()
    {
        var faults = new ScriptedIngestFaults()
            .Then(new IngestFault(IngestFaultKind.Delay, Delay: TimeSpan.FromSeconds(30)))
            .Then(new IngestFault(IngestFaultKind.Delay, Delay: TimeSpan.FromMilliseconds(50)));
        await using var h = await CollectorHarness.StartAsync((await Stores.CreateAsync()).Store, faults: faults);
        var client = h.Client();
        var sent = KnownSequence(3);

        var seen = new List<StatusCode>();
        foreach (var b in sent)
        {
            seen.AddRange(await SendUntilAckedAsync(client, b, deadline: TimeSpan.FromSeconds(2)));
        }

        Assert.Equal([StatusCode.DeadlineExceeded], seen);
        await AssertStoredExactlyOnceAsync(h, sent);
    }

    [Fact]
    public async Task SendStream_ConnectionCutMidStream_ResendOfUnackedBatchesStoresEachOnce()
    {
        var faults = new ScriptedIngestFaults().Then(IngestFault.None, times: 3).Then(new IngestFault(IngestFaultKind.Abort));
        await using var h = await CollectorHarness.StartAsync((await Stores.CreateAsync()).Store, faults: faults);
        var sent = KnownSequence(8);
        var acked = new HashSet<ulong>();

        using (var call = h.Client().SendStream(Bearer(TokenA)))
        {
            var reading = Task.Run(async () =>
            {
                await foreach (var ack in call.ResponseStream.ReadAllAsync())
                {
                    acked.Add(ack.Sequence);
                }
            });
            try
            {
                foreach (var b in sent)
                {
                    await call.RequestStream.WriteAsync(b);
                }
                await call.RequestStream.CompleteAsync();
            }
            catch (Exception e) when (e is RpcException or IOException or InvalidOperationException)
            {
                // The connection is gone; the writes after the cut fail.
            }
            await Assert.ThrowsAsync<RpcException>(() => reading);
        }
        Assert.Equal(1, faults.Applied);
        Assert.True(acked.Count <= 3, $"acks after the cut: {string.Join(",", acked)}");

        // The agent resends everything it holds without an ack, on a new connection.
        var client = h.Client();
        foreach (var b in sent.Where(b => !acked.Contains(b.Sequence)))
        {
            await SendUntilAckedAsync(client, b);
        }

        await AssertStoredExactlyOnceAsync(h, sent);
    }

    [Fact]
    public async Task SendStream_AckLostAfterStore_StreamEndsWithTheCodeAndResendIsDuplicate()
    {
        var faults = new ScriptedIngestFaults().Then(IngestFault.None, times: 2).Then(new IngestFault(IngestFaultKind.FailAfterStore, StatusCode.Internal));
        await using var h = await CollectorHarness.StartAsync((await Stores.CreateAsync()).Store, faults: faults);
        var sent = KnownSequence(3);
        var acked = new List<ulong>();

        using (var call = h.Client().SendStream(Bearer(TokenA)))
        {
            foreach (var b in sent)
            {
                await call.RequestStream.WriteAsync(b);
            }
            await call.RequestStream.CompleteAsync();
            var e = await Assert.ThrowsAsync<RpcException>(async () =>
            {
                await foreach (var ack in call.ResponseStream.ReadAllAsync())
                {
                    acked.Add(ack.Sequence);
                }
            });
            Assert.Equal(StatusCode.Internal, e.StatusCode);
        }
        Assert.Equal(1, faults.Applied);
        Assert.Equal([1UL, 2UL], acked);
        // The lost ack came after the store: batch 3 is there before any resend.
        Assert.Contains((await StoreSnapshot.EventsAsync(h.Store)), e => e.Sequence == 3);

        Assert.Empty(await SendUntilAckedAsync(h.Client(), sent[2]));
        await AssertStoredExactlyOnceAsync(h, sent);
        Assert.Equal(1, (await h.Store.GetAgentStatsAsync(CancellationToken.None)).Single().Duplicates);
    }
}

public sealed class SqliteIngestFaultsTests() : IngestFaultsTests(new SqliteStoreFactory());

[Collection(PostgresCollection.Name)]
public sealed class PostgresIngestFaultsTests(PostgresFixture pg) : IngestFaultsTests(new PostgresStoreFactory(pg.Cluster));
