namespace Sluice.Benchmarks.Harness;

/// <summary>One consumer at one rate in one run.</summary>
public sealed record TrialResult
{
    public required int Run { get; init; }

    /// <summary>Target rate; 0 = flat out.</summary>
    public required int Rate { get; init; }

    public required string Consumer { get; init; }

    /// <summary>Events the generator offered (its operations).</summary>
    public long Offered { get; init; }

    public double GeneratorSeconds { get; init; }

    /// <summary>The generator's rate in this trial.</summary>
    public double AchievedRate { get; init; }

    /// <summary>The generator's rate at the same target with audit off (same run).</summary>
    public double BaselineRate { get; init; }

    public long Delivered { get; init; }

    /// <summary>
    /// Kernel <c>lost</c> delta over the trial. It counts records the kernel could not queue: an
    /// event dropped whole costs one (the kernel abandons an event whose SYSCALL record it cannot
    /// queue), an event that lost only a later record costs one and is still delivered, so
    /// <see cref="UncountedLoss"/> can come out slightly negative.
    /// </summary>
    public long KernelLost { get; init; }

    /// <summary>Kernel <c>backlog_wait_time_actual</c> delta over the trial (jiffies tasks slept on a full backlog).</summary>
    public long WaitActual { get; init; }

    /// <summary>Consumer CPU (utime+stime of its processes) from the start of the load to the last delivered event, in µs.</summary>
    public double ConsumerCpuUs { get; init; }

    /// <summary>Peak RSS (VmHWM) of the consumer's processes at the end of the trial, summed, kB.</summary>
    public long ConsumerPeakRssKb { get; init; }

    /// <summary>
    /// Idle RSS: VmRSS of the consumer's processes (summed) once it is registered, its rule loaded,
    /// and it has used under 5% of a core for <see cref="CompareCommand.IdleRssSeconds"/> s, before the
    /// warm-up; kB. Null when not read.
    /// </summary>
    public long? ConsumerIdleRssKb { get; init; }

    /// <summary>
    /// CPU the consumer used with no load, in cores (1 = one core), over <see cref="CompareCommand.IdleCpuSeconds"/> s
    /// after the warm-up (and the wait until it was idle again), just before the measured load:
    /// what it costs per second with no event to handle (timers, polling), once start-up is behind it.
    /// </summary>
    public double? IdleCores { get; init; }

    /// <summary>False when the consumer was still busy when the idle RSS had to be read (after <see cref="CompareCommand.IdleRssTimeoutSeconds"/> s).</summary>
    public bool IdleReached { get; init; } = true;

    public double? CollectorCpuUs { get; init; }

    public long? CollectorPeakRssKb { get; init; }

    /// <summary>The collector's idle RSS, read with the consumer's, kB.</summary>
    public long? CollectorIdleRssKb { get; init; }

    /// <summary>CPU of the kernel's kauditd thread over the same window, in µs: the kernel's cost of sending the records to the consumer.</summary>
    public double? KauditdCpuUs { get; init; }

    /// <summary>Kernel backlog_limit at the end of the trial (the agent may raise its own).</summary>
    public uint BacklogLimitAtEnd { get; init; }

    /// <summary>True when delivery was still moving when the drain timeout passed.</summary>
    public bool TimedOut { get; init; }

    public string? Error { get; init; }

    public string? Details { get; init; }

    /// <summary>True for a Sluice agent (either variant): the one consumer with a process table to report.</summary>
    public bool SluiceVariant { get; init; }

    /// <summary>
    /// The agent's <c>enrichment</c> status section after the trial (process count, table bytes);
    /// null when the agent has none (built before issue 19) or did not answer, reported "n/a".
    /// </summary>
    public EnrichmentStatus? Enrichment { get; init; }

    /// <summary>CPU per thread name, for the consumer's processes (ticks).</summary>
    public IReadOnlyList<(string Thread, double Us)> ThreadCpu { get; init; } = [];

    public long UncountedLoss => Offered - Delivered - KernelLost;

    public double? CpuPerEventUs => Delivered > 0 ? ConsumerCpuUs / Delivered : null;

    public double? CollectorCpuPerEventUs => Delivered > 0 && CollectorCpuUs is double c ? c / Delivered : null;

    public double? KauditdCpuPerEventUs => Delivered > 0 && KauditdCpuUs is double k ? k / Delivered : null;

    public double? HostImpact => BaselineRate > 0 ? AchievedRate / BaselineRate : null;

    public double? DeliveredFraction => Offered > 0 ? (double)Delivered / Offered : null;
}
