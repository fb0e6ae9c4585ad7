using Sluice.Collector.Storage;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Tests.Storage;

/// <summary><see cref="IEventStore.GetDeliveryFactsAsync"/> on each store: gaps, refusals, interleaving, ranges.</summary>
public abstract class DeliveryFactsTests
{
    private protected abstract IStoreFactory Stores { get; }

    private const string A = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    private const string B = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    private const long T = TestEvents.BaseUnixMs;

    /// <summary>Stores batch (epoch, sequence) of agent "h", received at <paramref name="received"/>, made (created) at <paramref name="made"/>.</summary>
    private static async Task StoreAsync(
        IEventStore store, string epoch, ulong sequence, long received, long? made = null, ulong start = 1, string boot = "boot-1",
        ulong spoolDropped = 0, ulong spoolCorrupt = 0, string agent = "h")
    {
        var batch = TestEvents.Batch(agent, sequence, 1, firstSerial: (long)sequence, startUnixMs: T + (long)sequence);
        batch.Epoch = epoch;
        batch.EpochStartSequence = start;
        batch.BootId = boot;
        batch.CreatedUnixMs = made ?? received;
        batch.Loss.SpoolDroppedBatches = spoolDropped;
        batch.Loss.SpoolCorruptBatches = spoolCorrupt;
        var outcome = await store.StoreBatchAsync(batch, received, CancellationToken.None);
        Assert.Equal(new StoreOutcome(false, 1), outcome);
    }

    private static Task HeartbeatAsync(IEventStore store, string boot, long received, long? time = null) =>
        store.StoreHeartbeatAsync(new AgentHeartbeat
        {
            AgentId = "h", Hostname = "h.example", BootId = boot, Version = "1", Mode = "unicast", TimeUnixMs = time ?? received,
        }, received, CancellationToken.None);

    private static Task RefuseAsync(IEventStore store, string epoch, ulong sequence, string status, int events, long received) =>
        store.RecordRefusalAsync(new BatchRefusal("h", "h.example", "boot-1", epoch, sequence, status, "test", events, "d", received), CancellationToken.None);

    private static async Task<DeliveryFacts> FactsAsync(IEventStore store, long? from = null, long? to = null) =>
        (await store.GetDeliveryFactsAsync(new DeliveryQuery("h", from, to), CancellationToken.None)).Single();

    [Fact]
    public async Task GetDeliveryFactsAsync_SequencesMissingWithinEpochs_CountedWithTheirRangesLessThoseRefused()
    {
        var (store, _) = await Stores.CreateAsync();
        await using var _s = store;
        foreach (ulong s in new ulong[] { 1, 2, 4, 7, 9 })
        {
            await StoreAsync(store, A, s, T + (long)s * 1000);
        }
        // Epoch B starts at 10 (the agent went on from its last sequence): 10 and 11 missing before 12.
        await StoreAsync(store, B, 12, T + 20_000, start: 10);
        await StoreAsync(store, B, 13, T + 21_000, start: 10);
        // Refused keys are accounted for: 8 (invalid) is no gap; 2 is stored and also refused (a conflict); 20 is
        // beyond the last stored sequence of A and makes no gap either.
        await RefuseAsync(store, A, 8, "InvalidArgument", 5, T + 8_000);
        await RefuseAsync(store, A, 2, "AlreadyExists", 3, T + 9_000);
        await RefuseAsync(store, A, 20, "InvalidArgument", 2, T + 9_500);

        var f = await FactsAsync(store);

        Assert.Equal(2, f.Epochs);
        Assert.Equal(B, f.LatestEpoch);
        // A: 3, 5, 6; B: 10, 11.
        Assert.Equal(5, f.MissingSequences);
        Assert.Equal(0, f.ExplainedByAgent);
        Assert.Equal(5, f.DeliveryGaps);
        Assert.Equal([new SequenceGap(A, 3, 3), new SequenceGap(A, 5, 6), new SequenceGap(B, 10, 11)], f.Gaps);
        Assert.Equal((3L, 10L, 1L, 0L), (f.RefusedBatches, f.RefusedEvents, f.Conflicts, f.RefusalsUnrecorded));
        Assert.False(f.InterleavedEpochs);
        Assert.True(f.AnyProblem);
    }

    [Fact]
    public async Task GetDeliveryFactsAsync_GapFilledLater_NoLongerMissing()
    {
        var (store, _) = await Stores.CreateAsync();
        await using var _s = store;
        await StoreAsync(store, A, 1, T + 1000);
        await StoreAsync(store, A, 2, T + 2000);
        await StoreAsync(store, A, 4, T + 3000);
        var before = await FactsAsync(store);

        await StoreAsync(store, A, 3, T + 4000);
        var after = await FactsAsync(store);

        Assert.Equal((1L, 1L), (before.MissingSequences, before.DeliveryGaps));
        Assert.Equal([new SequenceGap(A, 3, 3)], before.Gaps);
        Assert.Equal((0L, 0L, 0), (after.MissingSequences, after.DeliveryGaps, after.Gaps.Count));
        Assert.False(after.AnyProblem);
    }

    [Fact]
    public async Task GetDeliveryFactsAsync_SpoolDroppedAndCorruptReportedByAgent_ExplainMissingSequences()
    {
        var (store, _) = await Stores.CreateAsync();
        await using var _s = store;
        await StoreAsync(store, A, 1, T + 1000);
        // 2, 3, 4 dropped by the agent's spool cap and 5 unreadable: it says so in the next batch it sends.
        await StoreAsync(store, A, 6, T + 2000, spoolDropped: 3, spoolCorrupt: 1);
        await StoreAsync(store, A, 8, T + 3000);

        var f = await FactsAsync(store);

        Assert.Equal((5L, 4L, 1L), (f.MissingSequences, f.ExplainedByAgent, f.DeliveryGaps));
        Assert.Equal([new SequenceGap(A, 2, 5), new SequenceGap(A, 7, 7)], f.Gaps);
    }

    [Fact]
    public async Task GetDeliveryFactsAsync_EpochsAlternatingInReceivedOrder_Interleaved()
    {
        var (store, _) = await Stores.CreateAsync();
        await using var _s = store;
        await StoreAsync(store, A, 1, T + 1000);
        await StoreAsync(store, B, 1, T + 2000);
        await StoreAsync(store, A, 2, T + 3000);

        var f = await FactsAsync(store);

        Assert.True(f.InterleavedEpochs);
        Assert.False(f.InterleavedBootIds);
        Assert.Equal((2, A), (f.Epochs, f.LatestEpoch));
        Assert.Equal(0, f.MissingSequences);
    }

    [Fact]
    public async Task GetDeliveryFactsAsync_NewEpochWhileOlderBatchesStillArrive_NotInterleaved()
    {
        var (store, _) = await Stores.CreateAsync();
        await using var _s = store;
        // A's 2 and 3 were cut before B began but arrive after B's first batch (in flight, or spooled): one agent.
        await StoreAsync(store, A, 1, T + 1000, made: T + 900);
        await StoreAsync(store, B, 1, T + 2000, made: T + 1900);
        await StoreAsync(store, A, 2, T + 2100, made: T + 950);
        await StoreAsync(store, B, 2, T + 2200, made: T + 2150);
        await StoreAsync(store, A, 3, T + 2300, made: T + 960);
        await StoreAsync(store, B, 3, T + 2400, made: T + 2350);

        var f = await FactsAsync(store);
        // From B's first batch on, only A's late ones arrive of A: still one agent.
        var sinceB = await FactsAsync(store, T + 2000, T + 10_000);

        Assert.False(f.InterleavedEpochs);
        Assert.Equal((2, B), (f.Epochs, f.LatestEpoch));
        Assert.False(sinceB.InterleavedEpochs);
        Assert.Equal((2, B), (sinceB.Epochs, sinceB.LatestEpoch));
    }

    [Fact]
    public async Task GetDeliveryFactsAsync_BootIdsAlternatingAcrossHeartbeatsAndBatches_Interleaved()
    {
        var (store, _) = await Stores.CreateAsync();
        await using var _s = store;
        await HeartbeatAsync(store, "boot-x", T + 1000);
        await StoreAsync(store, A, 1, T + 2000, boot: "boot-y");
        await HeartbeatAsync(store, "boot-x", T + 3000);

        var f = await FactsAsync(store);

        Assert.True(f.InterleavedBootIds);
        Assert.False(f.InterleavedEpochs);
    }

    [Fact]
    public async Task GetDeliveryFactsAsync_RebootWithBatchesSpooledBeforeIt_NotInterleaved()
    {
        var (store, _) = await Stores.CreateAsync();
        await using var _s = store;
        await HeartbeatAsync(store, "boot-x", T + 1000);
        await StoreAsync(store, A, 1, T + 1500, boot: "boot-x");
        // Rebooted: the new boot's heartbeat arrives before the batches the spool kept from the old boot.
        await HeartbeatAsync(store, "boot-y", T + 5000);
        await StoreAsync(store, A, 2, T + 5100, made: T + 1900, boot: "boot-x");
        await StoreAsync(store, A, 3, T + 5200, made: T + 2000, boot: "boot-x");
        await StoreAsync(store, A, 4, T + 6000, boot: "boot-y");
        await HeartbeatAsync(store, "boot-y", T + 7000);

        var f = await FactsAsync(store);

        Assert.False(f.InterleavedBootIds);
        Assert.False(f.AnyProblem);
    }

    [Fact]
    public async Task GetDeliveryFactsAsync_TimeRange_OnlyGapsRefusalsAndAlternationsWithin()
    {
        var (store, _) = await Stores.CreateAsync();
        await using var _s = store;
        // Day 1: a gap (2), a refusal, an alternation. Day 2: a gap (5), nothing else.
        const long day = 86_400_000;
        await StoreAsync(store, A, 1, T + 1000);
        await StoreAsync(store, B, 1, T + 2000);
        await StoreAsync(store, A, 3, T + 3000, spoolDropped: 0);
        await RefuseAsync(store, B, 2, "InvalidArgument", 4, T + 4000);
        await StoreAsync(store, A, 4, T + day + 1000, spoolCorrupt: 1);
        await StoreAsync(store, A, 6, T + day + 2000);

        var day1 = await FactsAsync(store, T, T + day);
        var day2 = await FactsAsync(store, T + day, T + 2 * day);
        var all = await FactsAsync(store);

        Assert.Equal((1L, 0L, 1L, true, 2), (day1.MissingSequences, day1.ExplainedByAgent, day1.RefusedBatches, day1.InterleavedEpochs, day1.Epochs));
        Assert.Equal([new SequenceGap(A, 2, 2)], day1.Gaps);
        Assert.Equal((1L, 1L, 0L, false, 1, A), (day2.MissingSequences, day2.ExplainedByAgent, day2.RefusedBatches, day2.InterleavedEpochs, day2.Epochs, day2.LatestEpoch));
        Assert.Equal([new SequenceGap(A, 5, 5)], day2.Gaps);
        Assert.Equal((2L, 1L, 1L, 4L, true), (all.MissingSequences, all.ExplainedByAgent, all.RefusedBatches, all.RefusedEvents, all.InterleavedEpochs));
    }

    [Fact]
    public async Task GetDeliveryFactsAsync_SeveralAgents_OnePerAgentInIdOrderAndFilteredByAgent()
    {
        var (store, _) = await Stores.CreateAsync();
        await using var _s = store;
        await StoreAsync(store, A, 1, T + 1000, agent: "z");
        await StoreAsync(store, A, 3, T + 2000, agent: "z");
        await StoreAsync(store, A, 1, T + 1000, agent: "m");
        await HeartbeatAsync(store, "boot-1", T);

        var all = await store.GetDeliveryFactsAsync(new DeliveryQuery(), CancellationToken.None);
        var z = await store.GetDeliveryFactsAsync(new DeliveryQuery("z"), CancellationToken.None);
        var unknown = await store.GetDeliveryFactsAsync(new DeliveryQuery("nobody"), CancellationToken.None);

        Assert.Equal(["h", "m", "z"], all.Select(f => f.AgentId));
        Assert.Equal([0L, 0L, 1L], all.Select(f => f.MissingSequences));
        Assert.Equal([0, 1, 1], all.Select(f => f.Epochs));
        Assert.Equal(["z"], z.Select(f => f.AgentId));
        Assert.Equal([new SequenceGap(A, 2, 2)], z[0].Gaps);
        Assert.Empty(unknown);
    }

    [Fact]
    public async Task GetDeliveryFactsAsync_ManyGaps_FirstFewRangesAndAllCounted()
    {
        var (store, _) = await Stores.CreateAsync();
        await using var _s = store;
        for (ulong s = 1; s <= 2 * DeliverySql.MaxGapRanges + 1; s++)
        {
            await StoreAsync(store, A, 2 * s - 1, T + (long)s * 1000);
        }

        var f = await FactsAsync(store);

        Assert.Equal(2 * DeliverySql.MaxGapRanges, f.MissingSequences);
        Assert.Equal(Enumerable.Range(1, DeliverySql.MaxGapRanges).Select(i => new SequenceGap(A, (ulong)(2 * i), (ulong)(2 * i))), f.Gaps);
    }
}

public sealed class SqliteDeliveryFactsTests : DeliveryFactsTests, IDisposable
{
    private readonly SqliteStoreFactory _stores = new();
    private protected override IStoreFactory Stores => _stores;
    public void Dispose() => _stores.Dispose();
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresDeliveryFactsTests(PostgresFixture pg) : DeliveryFactsTests
{
    private protected override IStoreFactory Stores { get; } = new PostgresStoreFactory(pg.Cluster);
}
