using Sluice.Agent.Monitoring;
using Sluice.Agent.Shipping;
using Sluice.Agent.Spool;
using Sluice.Agent.Tests.Shipping;
using Sluice.Agent.Tests.Spool;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Tests.Adversarial;

/// <summary>
/// Issue 14, case 6, the agent's side: every drop on the agent reaches the collector as loss, with
/// exact counts, exactly once: batches the collector refused (quarantined), quarantined batches
/// the quarantine's cap deleted (trimmed), and spool entries lost to damage on disk (corrupt,
/// kept apart from the cap's drops). Each goes out in the loss counters of the next batch, survives
/// a restart until then, and is in the heartbeat's totals and in status.
/// </summary>
public sealed class AgentSideLossTests
{
    /// <summary>The delivery loss every stored batch reported, added up.</summary>
    private static DeliveryLoss Reported(TestCollector collector) =>
        collector.Stored.Values.Aggregate(DeliveryLoss.None, (sum, b) => sum + DeliveryLoss.From(b.Loss));

    /// <summary>What a heartbeat built from the agent's figures tells the collector, as received.</summary>
    private static async Task<LossCounters> HeartbeatTotalsAsync(TestCollector collector, ShippingHarness harness)
    {
        var sender = new HeartbeatSender(new AgentIdentity(TestBatches.AgentId, "host-test", "boot-test"), harness.Spool, harness.Shipper, TimeSpan.FromSeconds(10));
        var values = HeartbeatJob.Values(new MetricsSnapshot { Mode = "unicast", Spool = harness.Spool.Counters }, []);
        Assert.NotNull(await sender.SendAsync(values, CancellationToken.None));
        Assert.True(collector.Heartbeats.TryDequeue(out var heartbeat));
        Assert.Equal(harness.Spool.Epoch, heartbeat.Epoch);
        return heartbeat.LossTotals;
    }

    [Fact]
    public async Task BatchRefusedAsInvalid_QuarantinedAndReportedInTheNextBatch_InHeartbeatAndStatus()
    {
        await using var collector = await TestCollector.StartAsync();
        collector.FaultFor = static (sequence, _) => sequence == 2 ? Fault.InvalidArgument : Fault.None;
        await using var harness = ShippingHarness.Create(collector, o => o.AttemptTimeout = TimeSpan.FromSeconds(30));
        harness.Append(3);
        harness.Append(5);
        harness.Start();
        await harness.WaitForEmptySpoolAsync();
        Assert.Equal(new DeliveryLoss { QuarantinedBatches = 1, QuarantinedEvents = 5 }, harness.Spool.Counters.UnreportedLoss);

        Assert.Equal(3ul, harness.Append(1));
        await harness.WaitForEmptySpoolAsync();

        Assert.Equal(new ulong[] { 1, 3 }, collector.Stored.Keys.Select(k => k.Sequence).Order());
        var carrier = collector.Batch(TestBatches.AgentId, 3);
        Assert.Equal((1ul, 5ul), (carrier.Loss.QuarantinedBatches, carrier.Loss.QuarantinedEvents));
        Assert.Equal(new DeliveryLoss { QuarantinedBatches = 1, QuarantinedEvents = 5 }, Reported(collector));
        Assert.Equal(DeliveryLoss.None, harness.Spool.Counters.UnreportedLoss);
        Assert.Equal(1, collector.AttemptsFor(2));

        var totals = await HeartbeatTotalsAsync(collector, harness);
        Assert.Equal((1ul, 5ul), (totals.QuarantinedBatches, totals.QuarantinedEvents));
        var status = new MetricsSnapshot { Spool = harness.Spool.Counters };
        Assert.Equal(5, status.TotalLoss);
        Assert.Equal(2, status.Spool!.Value.AckedBatches); // delivered: batches 1 and 3, not the refused one
        Assert.Equal(4, status.Spool!.Value.AckedEvents);
    }

    [Fact]
    public async Task QuarantineOverItsCap_TrimsReportedWithExactCountsAndNotCountedTwice()
    {
        await using var collector = await TestCollector.StartAsync();
        collector.FaultFor = static (sequence, _) => sequence <= 4 ? Fault.InvalidArgument : Fault.None;
        // Each refused batch is larger than the cap: each one in pushes the ones before out.
        await using var harness = ShippingHarness.Create(collector, o =>
        {
            o.AttemptTimeout = TimeSpan.FromSeconds(30);
            o.QuarantineMaxBytes = 1024;
            o.MaxInFlight = 1;
        });
        for (int events = 1; events <= 4; events++)
        {
            harness.Append(events, extraBytesPerEvent: 600);
        }
        harness.Start();
        await harness.WaitForEmptySpoolAsync();
        Assert.Equal(5ul, harness.Append(1));
        await harness.WaitForEmptySpoolAsync();

        // Quarantined: 4 batches, 1+2+3+4 events. Trimmed: the first three (1+2+3 events); only
        // batch 4 is left in the directory.
        var expected = new DeliveryLoss { QuarantinedBatches = 4, QuarantinedEvents = 10, QuarantineTrimmedBatches = 3, QuarantineTrimmedEvents = 6 };
        Assert.Equal(expected, Reported(collector));
        Assert.Equal(expected, DeliveryLoss.From(collector.Batch(TestBatches.AgentId, 5).Loss));
        string quarantine = harness.ShipperOptions.QuarantineDirectory;
        Assert.Equal(["00000000000000000004.batch"], Directory.GetFiles(quarantine, "*.batch").Select(Path.GetFileName));
        Assert.Equal(["00000000000000000004.reason"], Directory.GetFiles(quarantine, "*.reason").Select(Path.GetFileName));
        Assert.Equal((3L, 6L), (harness.Shipper.Status.QuarantineDeletedOverCap, harness.Shipper.Status.QuarantineDeletedOverCapEvents));

        var totals = await HeartbeatTotalsAsync(collector, harness);
        Assert.Equal((4ul, 10ul, 3ul, 6ul), (totals.QuarantinedBatches, totals.QuarantinedEvents, totals.QuarantineTrimmedBatches, totals.QuarantineTrimmedEvents));
        // The trimmed events are among the quarantined ones: counted once in the total.
        Assert.Equal(10, new MetricsSnapshot { Spool = harness.Spool.Counters }.TotalLoss);
    }

    [Fact]
    public async Task SpoolDamagedOnDisk_CorruptBatchesAndTheirEventsReported_NotAsCapDrops()
    {
        await using var collector = TestCollector.NotListening();
        await using var harness = ShippingHarness.Create(collector);
        int[] events = [2, 3, 4, 5, 6];
        foreach (int n in events)
        {
            harness.Append(n);
        }
        // Batch 3's payload goes bad while the agent is down; recovery keeps 1 and 2 and cuts the
        // rest of the segment: 3, 4 and 5 are lost, and their headers still tell 4 + 5 + 6 events.
        await harness.RestartAsync(spool => FlipPayloadByte(Directory.GetFiles(spool, "*.seg").Single(), entry: 2));
        var counters = harness.Spool.Counters;
        Assert.Equal((3, 15), (counters.CorruptBatches, counters.CorruptEvents));
        Assert.Equal((0, 0), (counters.DroppedBatches, counters.DroppedEvents));

        await collector.StartAsync();
        Assert.Equal(6ul, harness.Append(1));
        harness.Start();
        await harness.WaitForEmptySpoolAsync();

        Assert.Equal(new ulong[] { 1, 2, 6 }, collector.Stored.Keys.Select(k => k.Sequence).Order());
        Assert.Equal(new DeliveryLoss { SpoolCorruptBatches = 3, SpoolCorruptEvents = 15 }, Reported(collector));
        Assert.Equal(new DeliveryLoss { SpoolCorruptBatches = 3, SpoolCorruptEvents = 15 }, DeliveryLoss.From(collector.Batch(TestBatches.AgentId, 6).Loss));

        var totals = await HeartbeatTotalsAsync(collector, harness);
        Assert.Equal((3ul, 15ul, 0ul, 0ul), (totals.SpoolCorruptBatches, totals.SpoolCorruptEvents, totals.SpoolDroppedBatches, totals.SpoolDroppedEvents));
        Assert.Equal(15, new MetricsSnapshot { Spool = harness.Spool.Counters }.TotalLoss);
    }

    [Fact]
    public async Task EntryDamagedWhileWaiting_SkippedOnReadCountedWithItsEventsTheRestDelivered()
    {
        await using var collector = await TestCollector.StartAsync();
        await using var harness = ShippingHarness.Create(collector);
        harness.Append(2);
        harness.Append(7);
        harness.Append(3);
        // Batch 2 goes bad on disk after the spool opened (and checked) it, before it is read.
        FlipPayloadByte(Directory.GetFiles(harness.SpoolOptions.Directory, "*.seg").Single(), entry: 1);
        harness.Start();
        await harness.WaitForEmptySpoolAsync();
        Assert.Equal(4ul, harness.Append(1));
        await harness.WaitForEmptySpoolAsync();

        Assert.Equal(new ulong[] { 1, 3, 4 }, collector.Stored.Keys.Select(k => k.Sequence).Order());
        Assert.Equal(new DeliveryLoss { SpoolCorruptBatches = 1, SpoolCorruptEvents = 7 }, Reported(collector));
        Assert.Equal((1, 7), (harness.Spool.Counters.CorruptBatches, harness.Spool.Counters.CorruptEvents));
    }

    [Fact]
    public async Task RefusedThenRestartBeforeAnyBatch_TheLossSurvivesAndIsReportedOnce()
    {
        await using var collector = await TestCollector.StartAsync();
        collector.FaultFor = static (sequence, _) => sequence == 1 ? Fault.InvalidArgument : Fault.None;
        await using var harness = ShippingHarness.Create(collector, o => o.AttemptTimeout = TimeSpan.FromSeconds(30));
        harness.Append(4);
        harness.Start();
        await ShippingHarness.WaitForAsync(() => harness.Shipper.Status.QuarantinedBatches == 1, "the refusal");
        await harness.WaitForEmptySpoolAsync();

        await harness.RestartAsync();
        Assert.Equal(new DeliveryLoss { QuarantinedBatches = 1, QuarantinedEvents = 4 }, harness.Spool.Counters.UnreportedLoss);
        Assert.Equal(2ul, harness.Append(1));
        harness.Start();
        await harness.WaitForEmptySpoolAsync();
        await harness.RestartAsync();
        Assert.Equal(3ul, harness.Append(1));
        harness.Start();
        await harness.WaitForEmptySpoolAsync();

        Assert.Equal(new DeliveryLoss { QuarantinedBatches = 1, QuarantinedEvents = 4 }, Reported(collector));
        Assert.Equal((1ul, 4ul), (collector.Batch(TestBatches.AgentId, 2).Loss.QuarantinedBatches, collector.Batch(TestBatches.AgentId, 2).Loss.QuarantinedEvents));
    }

    [Fact]
    public async Task SpoolCapDropsAndQuarantine_EachKindReportedApartAndExactlyOnce()
    {
        await using var collector = TestCollector.NotListening();
        await using var harness = ShippingHarness.Create(collector, o => o.AttemptTimeout = TimeSpan.FromSeconds(30), configureSpool: s =>
        {
            s.MaxBytes = 128 * 1024;
            s.SegmentBytes = 16 * 1024;
        });
        var eventsBySequence = new Dictionary<ulong, int>();
        for (int i = 0; i < 200; i++)
        {
            int n = 1 + i % 5;
            eventsBySequence[harness.Append(n)] = n;
        }
        var counters = harness.Spool.Counters;
        Assert.True(counters.DroppedBatches > 50, $"dropped {counters.DroppedBatches}");
        ulong firstKept = eventsBySequence.Keys.Min() + (ulong)counters.DroppedBatches;
        // The first batch still in the spool will be refused as invalid.
        collector.FaultFor = (sequence, _) => sequence == firstKept ? Fault.InvalidArgument : Fault.None;
        await collector.StartAsync();
        harness.Start();
        await harness.WaitForEmptySpoolAsync();
        Assert.Equal(201ul, harness.Append(1));
        eventsBySequence[201] = 1;
        await harness.WaitForEmptySpoolAsync();

        var dropped = eventsBySequence.Keys.Where(s => s < firstKept).ToList();
        var expected = new DeliveryLoss
        {
            SpoolDroppedBatches = (ulong)dropped.Count,
            SpoolDroppedEvents = (ulong)dropped.Sum(s => eventsBySequence[s]),
            QuarantinedBatches = 1,
            QuarantinedEvents = (ulong)eventsBySequence[firstKept],
        };
        Assert.Equal(expected, Reported(collector));
        Assert.Equal(eventsBySequence.Count - dropped.Count - 1, collector.Stored.Count);
        var totals = await HeartbeatTotalsAsync(collector, harness);
        Assert.Equal(expected, DeliveryLoss.From(totals));
    }

    /// <summary>Flips a byte inside the payload of the <paramref name="entry"/>-th entry (0-based) of a segment.</summary>
    private static void FlipPayloadByte(string segment, int entry)
    {
        using var handle = File.OpenHandle(segment, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        long offset = 0;
        Span<byte> header = stackalloc byte[8];
        for (int i = 0; i < entry; i++)
        {
            RandomAccess.Read(handle, header, offset);
            offset += 96 + System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(header[4..]);
        }
        Span<byte> b = stackalloc byte[1];
        long at = offset + 96 + 20;
        RandomAccess.Read(handle, b, at);
        b[0] ^= 0x5A;
        RandomAccess.Write(handle, b, at);
    }
}
