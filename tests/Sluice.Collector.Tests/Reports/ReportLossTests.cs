using Sluice.Collector.Reports;
using Sluice.Collector.Storage;

namespace Sluice.Collector.Tests.Reports;

/// <summary>How the report counts each loss kind: read off <see cref="LossTotals"/>, and summed without overflow.</summary>
public sealed class ReportLossTests
{
    [Fact]
    public void Kinds_EveryLossColumnInStoreOrder()
    {
        Assert.Equal(LossColumns.Names, ReportLoss.Kinds.Select(k => k.Column));
        Assert.Equal("spool_dropped", ReportLoss.Kinds.Single(k => k.Column == "spool_dropped_events").Name);
    }

    [Fact]
    public void Kinds_TotalBatchesAndLossAsLossTotalsDefinesThem()
    {
        Assert.Equal(["kernel_lost", "socket_overruns", "serial_gaps", "spool_dropped", "reassembly_evicted", "quarantined_events", "spool_corrupt_events"],
            ReportLoss.EventKinds.Select(k => k.Name));
        Assert.Equal(["spool_dropped_batches", "quarantined_batches", "spool_corrupt_batches"], ReportLoss.Kinds.Where(k => k.InBatchesLost).Select(k => k.Name));
        // Quarantine trims are shown but add nothing: their events are counted as quarantined.
        Assert.Equal(["parse_errors", "backlog_wait_time_actual", "filtered"], ReportLoss.Kinds.Where(k => !k.Loss).Select(k => k.Name));
        Assert.Equal(["quarantine_trimmed_events"], ReportLoss.Shown.Except(ReportLoss.AnyLossKinds).Select(k => k.Name));
        Assert.Equal("(kernel_lost > 0 OR socket_overruns > 0 OR serial_gaps > 0 OR spool_dropped_events > 0 OR spool_dropped_batches > 0 OR reassembly_evicted > 0 OR truncated > 0 "
            + "OR quarantined_batches > 0 OR quarantined_events > 0 OR quarantine_trimmed_batches > 0 OR spool_corrupt_batches > 0 OR spool_corrupt_events > 0)",
            ReportLoss.AnyLossCondition());
    }

    [Fact]
    public void Counts_TotalCountsEachEventOnce()
    {
        var l = new LossCounts
        {
            KernelLost = 1, SocketOverruns = 2, SerialGaps = 3, SpoolDropped = 4, SpoolDroppedBatches = 5, ReassemblyEvicted = 6, Truncated = 7,
            ParseErrors = 8, BacklogWaitTimeActual = 9, Filtered = 10, QuarantinedBatches = 11, QuarantinedEvents = 12,
            QuarantineTrimmedBatches = 13, QuarantineTrimmedEvents = 14, SpoolCorruptBatches = 15, SpoolCorruptEvents = 16,
        };

        Assert.Equal(1 + 2 + 3 + 4 + 6 + 12 + 16, l.Total);
        Assert.Equal(5 + 11 + 15, l.BatchesLost);
        Assert.Equal(l.Totals.TotalLost, l.Total);
        Assert.Equal(Enumerable.Range(1, 16).Select(i => (long)i), ReportLoss.Values(l));
    }

    [Fact]
    public void Counts_OnlyBatchesOrTruncated_StillLoss()
    {
        Assert.True(new LossCounts { SpoolDroppedBatches = 1 }.AnyLoss);
        Assert.True(new LossCounts { Truncated = 1 }.AnyLoss);
        Assert.False(new LossCounts { Filtered = 9, ParseErrors = 2, BacklogWaitTimeActual = 5, QuarantineTrimmedEvents = 3 }.AnyLoss);
    }

    [Fact]
    public void Sum_SaturatesKindByKindNeverNegative()
    {
        var max = new LossCounts { KernelLost = long.MaxValue, QuarantinedEvents = long.MaxValue, SpoolCorruptBatches = long.MaxValue, Filtered = 3 };
        var one = new LossCounts { KernelLost = 1, SpoolCorruptBatches = 1, Filtered = 4 };

        var sum = max + one;

        Assert.Equal((long.MaxValue, long.MaxValue, long.MaxValue, 7L), (sum.KernelLost, sum.QuarantinedEvents, sum.SpoolCorruptBatches, sum.Filtered));
        Assert.Equal((long.MaxValue, long.MaxValue), (sum.Total, sum.BatchesLost));
        Assert.Equal("kernel 9223372036854775807, quarantined events 9223372036854775807, spool corrupt batches 9223372036854775807", ReportLoss.Describe(sum));
    }
}
