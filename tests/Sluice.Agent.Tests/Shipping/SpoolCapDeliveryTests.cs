using Sluice.Agent.Shipping;

namespace Sluice.Agent.Tests.Shipping;

/// <summary>The spool fills while the collector is down; the drop is exact and reaches the collector.</summary>
public sealed class SpoolCapDeliveryTests
{
    [Fact]
    public async Task RunAsync_SpoolFilledWhileCollectorDown_OldestDroppedExactlyAndTheDropReachesTheCollector()
    {
        await using var collector = TestCollector.NotListening();
        await using var harness = ShippingHarness.Create(collector, configureSpool: s =>
        {
            s.MaxBytes = 128 * 1024;
            s.SegmentBytes = 16 * 1024;
        });
        harness.Start();
        var eventsBySequence = new Dictionary<ulong, int>();
        for (int i = 0; i < 300; i++)
        {
            int events = 1 + i % 6;
            eventsBySequence[harness.Append(events)] = events;
        }
        await ShippingHarness.WaitForAsync(() => harness.Shipper.Status.Retries >= 3, "failed attempts while down");
        Assert.Empty(collector.Stored);
        var counters = harness.Spool.Counters;
        Assert.True(counters.DepthBytes <= 128 * 1024);
        Assert.True(counters.DroppedBatches > 100, $"dropped {counters.DroppedBatches}");

        await collector.StartAsync();
        await harness.WaitForEmptySpoolAsync();

        // The oldest went: what arrived is a contiguous run ending at the last batch. Batches that
        // were in flight when their segment was dropped are abandoned, not delivered.
        var stored = collector.Stored.Keys.Select(k => k.Sequence).Order().ToList();
        Assert.Equal(Enumerable.Range((int)stored[0], 300 - (int)stored[0] + 1).Select(s => (ulong)s), stored);
        harness.AssertStoredExactlyOnce(collector, stored);

        // Exact count: every batch that never arrived was counted with its events, and reported
        // exactly once in the loss counters of the batches that did arrive.
        var missing = eventsBySequence.Keys.Where(s => s < stored[0]).ToList();
        Assert.Equal(missing.Count, harness.Spool.Counters.DroppedBatches);
        Assert.Equal(missing.Sum(s => eventsBySequence[s]), harness.Spool.Counters.DroppedEvents);
        ulong reportedBatches = 0;
        ulong reportedEvents = 0;
        foreach (var batch in collector.Stored.Values)
        {
            reportedBatches += batch.Loss.SpoolDroppedBatches;
            reportedEvents += batch.Loss.SpoolDroppedEvents;
        }
        Assert.Equal((ulong)missing.Count, reportedBatches);
        Assert.Equal((ulong)missing.Sum(s => eventsBySequence[s]), reportedEvents);
    }
}
