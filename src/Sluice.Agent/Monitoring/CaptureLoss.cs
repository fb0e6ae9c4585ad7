using Sluice.Protocol.V1;

namespace Sluice.Agent.Monitoring;

/// <summary>
/// Loss on the way in, between the kernel and the sink, by kind (docs/loss-model.md): the loss
/// monitor's reading of one tick (deltas), or what the agent counted since it started (totals).
/// The names are the <see cref="LossCounters"/> fields'; <see cref="AddTo"/> is the one place
/// they are written into one. The delivery path's kinds are <see cref="Spool.DeliveryLoss"/>.
/// </summary>
internal readonly record struct CaptureLoss
{
    /// <summary>Records the kernel dropped (rate limit, full backlog): audit_status.lost. kernel_lost.</summary>
    public long KernelLost { get; init; }

    /// <summary>Records the kernel could not queue on the agent's socket (full receive buffer): SO_MEMINFO drops. socket_overruns.</summary>
    public long SocketOverruns { get; init; }

    /// <summary>ENOBUFS errors the socket returned: one per overrun, however many records it dropped. A signal, not a count of records; not in <see cref="LossCounters"/>.</summary>
    public long Enobufs { get; init; }

    /// <summary>Serials never received. serial_gaps.</summary>
    public long SerialGaps { get; init; }

    /// <summary>Events the reassembler completed early, for want of room. reassembly_evicted.</summary>
    public long ReassemblyEvicted { get; init; }

    /// <summary>Records cut short on receive (MSG_TRUNC): kept, but incomplete. truncated.</summary>
    public long Truncated { get; init; }

    /// <summary>Records the reassembler could not parse, dropped. parse_errors.</summary>
    public long ParseErrors { get; init; }

    /// <summary>Time tasks slept on a full backlog (jiffies): the host's cost, not loss. backlog_wait_time_actual.</summary>
    public long BacklogWaitTimeActual { get; init; }

    /// <summary>Anything that <see cref="AddTo"/> would write, or an ENOBUFS.</summary>
    public bool Any => this != default;

    public static CaptureLoss operator +(CaptureLoss a, CaptureLoss b) => new()
    {
        KernelLost = a.KernelLost + b.KernelLost,
        SocketOverruns = a.SocketOverruns + b.SocketOverruns,
        Enobufs = a.Enobufs + b.Enobufs,
        SerialGaps = a.SerialGaps + b.SerialGaps,
        ReassemblyEvicted = a.ReassemblyEvicted + b.ReassemblyEvicted,
        Truncated = a.Truncated + b.Truncated,
        ParseErrors = a.ParseErrors + b.ParseErrors,
        BacklogWaitTimeActual = a.BacklogWaitTimeActual + b.BacklogWaitTimeActual,
    };

    /// <summary>Adds these counts to <paramref name="loss"/>, each kind to its field (<see cref="Enobufs"/> has none).</summary>
    public void AddTo(LossCounters loss)
    {
        ArgumentNullException.ThrowIfNull(loss);
        loss.KernelLost += U(KernelLost);
        loss.SocketOverruns += U(SocketOverruns);
        loss.SerialGaps += U(SerialGaps);
        loss.ReassemblyEvicted += U(ReassemblyEvicted);
        loss.Truncated += U(Truncated);
        loss.ParseErrors += U(ParseErrors);
        loss.BacklogWaitTimeActual += U(BacklogWaitTimeActual);
    }

    private static ulong U(long n) => (ulong)Math.Max(0, n);
}
