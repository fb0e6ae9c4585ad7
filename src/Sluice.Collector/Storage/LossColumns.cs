using Sluice.Protocol.V1;

namespace Sluice.Collector.Storage;

/// <summary>The loss counters as columns, in one fixed order shared by the batches and heartbeats tables of every store; named as the LossCounters fields (docs/loss-model.md).</summary>
internal static class LossColumns
{
    public static readonly string[] Names =
    [
        "kernel_lost", "socket_overruns", "serial_gaps", "spool_dropped_events", "spool_dropped_batches",
        "reassembly_evicted", "truncated", "parse_errors", "backlog_wait_time_actual", "filtered",
        "quarantined_batches", "quarantined_events", "quarantine_trimmed_batches", "quarantine_trimmed_events",
        "spool_corrupt_batches", "spool_corrupt_events",
    ];

    /// <summary>The columns added by schema 6; stores of older versions gain them with 0.</summary>
    public static readonly string[] AddedInVersion6 =
    [
        "quarantined_batches", "quarantined_events", "quarantine_trimmed_batches", "quarantine_trimmed_events",
        "spool_corrupt_batches", "spool_corrupt_events",
    ];

    /// <summary>The values in <see cref="Names"/> order; a missing message is all zeros.</summary>
    public static long[] Values(LossCounters? loss)
    {
        var v = new long[Names.Length];
        if (loss is null)
        {
            return v;
        }
        v[0] = Clamp(loss.KernelLost);
        v[1] = Clamp(loss.SocketOverruns);
        v[2] = Clamp(loss.SerialGaps);
        v[3] = Clamp(loss.SpoolDroppedEvents);
        v[4] = Clamp(loss.SpoolDroppedBatches);
        v[5] = Clamp(loss.ReassemblyEvicted);
        v[6] = Clamp(loss.Truncated);
        v[7] = Clamp(loss.ParseErrors);
        v[8] = Clamp(loss.BacklogWaitTimeActual);
        v[9] = Clamp(loss.Filtered);
        v[10] = Clamp(loss.QuarantinedBatches);
        v[11] = Clamp(loss.QuarantinedEvents);
        v[12] = Clamp(loss.QuarantineTrimmedBatches);
        v[13] = Clamp(loss.QuarantineTrimmedEvents);
        v[14] = Clamp(loss.SpoolCorruptBatches);
        v[15] = Clamp(loss.SpoolCorruptEvents);
        return v;
    }

    /// <summary>The totals in <see cref="Names"/> order.</summary>
    public static long[] Values(LossTotals t) =>
    [
        t.KernelLost, t.SocketOverruns, t.SerialGaps, t.SpoolDroppedEvents, t.SpoolDroppedBatches,
        t.ReassemblyEvicted, t.Truncated, t.ParseErrors, t.BacklogWaitTimeActual, t.Filtered,
        t.QuarantinedBatches, t.QuarantinedEvents, t.QuarantineTrimmedBatches, t.QuarantineTrimmedEvents,
        t.SpoolCorruptBatches, t.SpoolCorruptEvents,
    ];

    public static LossTotals Totals(Func<int, long> column) => new()
    {
        KernelLost = column(0),
        SocketOverruns = column(1),
        SerialGaps = column(2),
        SpoolDroppedEvents = column(3),
        SpoolDroppedBatches = column(4),
        ReassemblyEvicted = column(5),
        Truncated = column(6),
        ParseErrors = column(7),
        BacklogWaitTimeActual = column(8),
        Filtered = column(9),
        QuarantinedBatches = column(10),
        QuarantinedEvents = column(11),
        QuarantineTrimmedBatches = column(12),
        QuarantineTrimmedEvents = column(13),
        SpoolCorruptBatches = column(14),
        SpoolCorruptEvents = column(15),
    };

    // Counters are u64 on the wire and bigint in SQL; nothing real comes near 2^63.
    private static long Clamp(ulong v) => v > long.MaxValue ? long.MaxValue : (long)v;

    /// <summary>"kernel_lost, socket_overruns, ..." with an optional prefix per name.</summary>
    public static string List(string prefix = "") => string.Join(", ", Names.Select(n => prefix + n));
}
