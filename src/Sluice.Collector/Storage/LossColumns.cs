using Sluice.Protocol.V1;

namespace Sluice.Collector.Storage;

/// <summary>The loss counters as columns, in one fixed order shared by the batches and heartbeats tables of every store.</summary>
internal static class LossColumns
{
    public static readonly string[] Names =
    [
        "kernel_lost", "socket_overruns", "serial_gaps", "spool_dropped_events", "spool_dropped_batches",
        "reassembly_evicted", "truncated", "parse_errors", "backlog_wait_time_actual", "filtered",
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
        return v;
    }

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
    };

    // Counters are u64 on the wire and bigint in SQL; nothing real comes near 2^63.
    private static long Clamp(ulong v) => v > long.MaxValue ? long.MaxValue : (long)v;

    /// <summary>"kernel_lost, socket_overruns, ..." with an optional prefix per name.</summary>
    public static string List(string prefix = "") => string.Join(", ", Names.Select(n => prefix + n));
}
