using System.Diagnostics.Metrics;

namespace Sluice.Agent.Monitoring;

/// <summary>
/// The running agent's figures: what it drained, kept, filtered and wrote, every loss kind
/// (docs/loss-model.md), and the drain settings in force. Written by the jobs, read from any
/// thread by status and heartbeats (<see cref="Snapshot"/>) and by metric listeners and
/// exporters (the observable instruments of <see cref="Meter"/>, "Sluice.Agent"), which read the
/// same fields.
/// </summary>
/// <remarks>
/// Counting costs one interlocked add and allocates nothing; the instruments are observed, so
/// nothing is recorded per event. Levels (interval, buffer, backlog, rates) are set by the job
/// that owns them.
/// </remarks>
internal sealed class AgentMetrics : IDisposable
{
    /// <summary>The name of the agent's <see cref="System.Diagnostics.Metrics.Meter"/>.</summary>
    public const string MeterName = "Sluice.Agent";

    private readonly bool _ownsMeter;

    private long _records;
    private long _events;
    private long _filtered;
    private long _written;
    private long _writeFailures;
    private long _kernelLost;
    private long _socketOverruns;
    private long _enobufs;
    private long _serialGaps;
    private long _truncated;
    private long _reassemblyEvicted;
    private long _parseErrors;
    private long _backlogWaitTimeActual;
    private long _adjustments;
    private long _replaceRequests;
    private long _watchdogReasserts;

    public AgentMetrics()
        : this(null)
    {
    }

    /// <param name="meterFactory">Creates the meter (the host's, when it has one); without it the meter is this object's own.</param>
    public AgentMetrics(IMeterFactory? meterFactory)
        : this(meterFactory, MeterName)
    {
    }

    /// <param name="meterFactory">As above.</param>
    /// <param name="meterName">The meter's name: tests that export one agent's figures give it a name of its own, since exporters pick meters by name, process-wide.</param>
    internal AgentMetrics(IMeterFactory? meterFactory, string meterName)
    {
        Meter = meterFactory?.Create(meterName) ?? new Meter(meterName);
        _ownsMeter = meterFactory is null;
        AgentInstruments.Create(Meter, this);
    }

    /// <summary>The "Sluice.Agent" meter: observable instruments over these figures (<see cref="AgentInstruments"/>).</summary>
    public Meter Meter { get; }

    public DateTimeOffset StartedUtc { get; init; } = DateTimeOffset.UtcNow;

    public string Mode { get; set; } = "unicast";

    public volatile int IntervalMs;
    public volatile bool Continuous;
    public volatile int ReceiveBufferBytes;
    public volatile int BacklogLimit;
    public volatile int Backlog;
    public volatile float SocketFill;
    public volatile float EventsPerSecond;
    public volatile float RecordsPerSecond;
    public volatile float PeakRecordsPerSecond;
    public volatile int TruesizeBytes;
    public volatile int WantedBufferBytes;
    public volatile bool Immutable;
    public volatile int RulesLoaded;

    /// <summary>Share of one core the agent process used over the last monitor interval, in percent (<see cref="SampleResources"/>).</summary>
    public volatile float CpuPercent;

    private readonly Lock _resourcesLock = new();
    private ProcessResources _resourcesBefore;
    private long _resourcesStamp;

    /// <summary>The hash of the rules in force (set when they are loaded); heartbeats and every batch carry it.</summary>
    public volatile string RulesHash = "";

    /// <summary>Takes each monitor tick's loss, to carry it to the collector (set by the collector sink).</summary>
    public Action<Sluice.Protocol.V1.LossCounters>? LossReporter { get; set; }

    /// <summary>The spool's figures, when events go to a collector.</summary>
    public Func<Spool.SpoolCounters>? SpoolCounters { get; set; }

    /// <summary>The shipper's state and each collector's (up or down, counters), when events go to a collector.</summary>
    public Func<Shipping.ShipperStatus>? ShipperStatus { get; set; }

    /// <summary>Batches the spool could not append (a write error), and their events, when events go to a collector: spool drops the spool's own counters do not hold.</summary>
    public Func<(long Batches, long Events)>? SpoolAppendFailures { get; set; }

    /// <summary>The central policy's state (in force, refused), supplied by <see cref="Policy.PolicyState"/>.</summary>
    public Func<Policy.PolicyStatus>? PolicyStatus { get; set; }

    /// <summary>The process table's figures, supplied by the pipeline.</summary>
    public Func<Enrichment.EnrichmentStatus>? Enrichment { get; set; }

    /// <summary>Per filter rule counts, supplied by the pipeline.</summary>
    public Func<IReadOnlyList<Filtering.FilterCount>>? FilterCounts { get; set; }

    public void AddRecords(long n) => Interlocked.Add(ref _records, n);
    public long Records => Volatile.Read(ref _records);
    public void AddEvent() => Interlocked.Increment(ref _events);
    public long Events => Volatile.Read(ref _events);
    public void AddFiltered() => Interlocked.Increment(ref _filtered);
    public long Filtered => Volatile.Read(ref _filtered);
    public void AddWritten() => Interlocked.Increment(ref _written);
    public long Written => Volatile.Read(ref _written);
    public void AddWriteFailure() => Interlocked.Increment(ref _writeFailures);
    public long WriteFailures => Volatile.Read(ref _writeFailures);

    /// <summary>Adds one loss-monitor reading (deltas) to the totals.</summary>
    public void AddLoss(in CaptureLoss delta)
    {
        Interlocked.Add(ref _kernelLost, delta.KernelLost);
        Interlocked.Add(ref _socketOverruns, delta.SocketOverruns);
        Interlocked.Add(ref _enobufs, delta.Enobufs);
        Interlocked.Add(ref _serialGaps, delta.SerialGaps);
        Interlocked.Add(ref _reassemblyEvicted, delta.ReassemblyEvicted);
        Interlocked.Add(ref _truncated, delta.Truncated);
        Interlocked.Add(ref _parseErrors, delta.ParseErrors);
        Interlocked.Add(ref _backlogWaitTimeActual, delta.BacklogWaitTimeActual);
    }

    /// <summary>Loss on the way in since the agent started.</summary>
    public CaptureLoss CaptureLoss => new()
    {
        KernelLost = Volatile.Read(ref _kernelLost),
        SocketOverruns = Volatile.Read(ref _socketOverruns),
        Enobufs = Volatile.Read(ref _enobufs),
        SerialGaps = Volatile.Read(ref _serialGaps),
        ReassemblyEvicted = Volatile.Read(ref _reassemblyEvicted),
        Truncated = Volatile.Read(ref _truncated),
        ParseErrors = Volatile.Read(ref _parseErrors),
        BacklogWaitTimeActual = Volatile.Read(ref _backlogWaitTimeActual),
    };

    public void AddAdjustment() => Interlocked.Increment(ref _adjustments);
    public long Adjustments => Volatile.Read(ref _adjustments);
    public void AddReplaceRequests(long n) => Interlocked.Add(ref _replaceRequests, n);
    public long ReplaceRequests => Volatile.Read(ref _replaceRequests);
    public void AddWatchdogReassert() => Interlocked.Increment(ref _watchdogReasserts);
    public long WatchdogReasserts => Volatile.Read(ref _watchdogReasserts);

    /// <summary>
    /// Reads the process's CPU time and sets <see cref="CpuPercent"/> to its share of one core since
    /// the previous call (the loss monitor calls it every tick, so it covers one monitor interval).
    /// </summary>
    public void SampleResources()
    {
        var now = ProcessResources.Self();
        long stamp = System.Diagnostics.Stopwatch.GetTimestamp();
        lock (_resourcesLock)
        {
            if (_resourcesStamp != 0)
            {
                CpuPercent = ProcessResources.CpuPercent(_resourcesBefore, now, System.Diagnostics.Stopwatch.GetElapsedTime(_resourcesStamp, stamp));
            }
            (_resourcesBefore, _resourcesStamp) = (now, stamp);
        }
    }

    public void Dispose()
    {
        if (_ownsMeter)
        {
            Meter.Dispose();
        }
    }

    public MetricsSnapshot Snapshot()
    {
        var loss = CaptureLoss;
        var appendFailures = SpoolAppendFailures?.Invoke() ?? default;
        var self = ProcessResources.Self();
        return new()
        {
            Version = Sluice.Protocol.ProductVersion.Current,
            StartedUtc = StartedUtc,
            Mode = Mode,
            Records = Records,
            Events = Events,
            Filtered = Filtered,
            Written = Written,
            WriteFailures = WriteFailures,
            KernelLost = loss.KernelLost,
            SocketOverruns = loss.SocketOverruns,
            Enobufs = loss.Enobufs,
            SerialGaps = loss.SerialGaps,
            Truncated = loss.Truncated,
            ReassemblyEvicted = loss.ReassemblyEvicted,
            ParseErrors = loss.ParseErrors,
            BacklogWaitTimeActual = loss.BacklogWaitTimeActual,
            SpoolAppendFailedBatches = appendFailures.Batches,
            SpoolAppendFailedEvents = appendFailures.Events,
            Adjustments = Adjustments,
            ReplaceRequests = ReplaceRequests,
            WatchdogReasserts = WatchdogReasserts,
            IntervalMs = IntervalMs,
            Continuous = Continuous,
            ReceiveBufferBytes = ReceiveBufferBytes,
            WantedBufferBytes = WantedBufferBytes,
            TruesizeBytes = TruesizeBytes,
            BacklogLimit = BacklogLimit,
            Backlog = Backlog,
            SocketFill = SocketFill,
            EventsPerSecond = EventsPerSecond,
            RecordsPerSecond = RecordsPerSecond,
            PeakRecordsPerSecond = PeakRecordsPerSecond,
            Immutable = Immutable,
            RulesLoaded = RulesLoaded,
            RulesHash = RulesHash,
            FilterRules = FilterCounts?.Invoke() ?? [],
            Policy = PolicyStatus?.Invoke() ?? new Policy.PolicyStatus(),
            Spool = SpoolCounters?.Invoke(),
            Enrichment = Enrichment?.Invoke() ?? new Enrichment.EnrichmentStatus(),
            Shipping = ShipperStatus?.Invoke(),
            RssBytes = self.RssBytes,
            PeakRssBytes = self.PeakRssBytes,
            CpuUserSeconds = self.UserCpu.TotalSeconds,
            CpuSystemSeconds = self.SystemCpu.TotalSeconds,
            CpuPercent = CpuPercent,
        };
    }
}

/// <summary>A consistent-enough copy of <see cref="AgentMetrics"/> for output.</summary>
internal sealed record MetricsSnapshot
{
    /// <summary>The running agent's version (<see cref="Sluice.Protocol.ProductVersion"/>): after an upgrade, the old one until it restarts.</summary>
    public string Version { get; init; } = "";
    public DateTimeOffset StartedUtc { get; init; }
    public string Mode { get; init; } = "";
    public long Records { get; init; }
    public long Events { get; init; }
    public long Filtered { get; init; }
    public long Written { get; init; }
    public long WriteFailures { get; init; }
    // The loss kinds, named as in LossCounters and docs/loss-model.md.
    public long KernelLost { get; init; }
    public long SocketOverruns { get; init; }
    /// <summary>ENOBUFS errors: one per socket overrun, however many records it dropped (those are <see cref="SocketOverruns"/>).</summary>
    public long Enobufs { get; init; }
    public long SerialGaps { get; init; }
    public long Truncated { get; init; }
    public long ReassemblyEvicted { get; init; }
    public long ParseErrors { get; init; }
    public long BacklogWaitTimeActual { get; init; }
    /// <summary>Batches the spool could not append (a write error); part of <see cref="SpoolDroppedBatches"/>.</summary>
    public long SpoolAppendFailedBatches { get; init; }
    /// <summary>Events of <see cref="SpoolAppendFailedBatches"/>; part of <see cref="SpoolDroppedEvents"/>.</summary>
    public long SpoolAppendFailedEvents { get; init; }
    public long Adjustments { get; init; }
    public long ReplaceRequests { get; init; }
    public long WatchdogReasserts { get; init; }
    public int IntervalMs { get; init; }
    public bool Continuous { get; init; }
    public int ReceiveBufferBytes { get; init; }
    public int WantedBufferBytes { get; init; }
    public int TruesizeBytes { get; init; }
    public int BacklogLimit { get; init; }
    public int Backlog { get; init; }
    public float SocketFill { get; init; }
    public float EventsPerSecond { get; init; }
    public float RecordsPerSecond { get; init; }
    public float PeakRecordsPerSecond { get; init; }
    public bool Immutable { get; init; }
    public int RulesLoaded { get; init; }
    public string RulesHash { get; init; } = "";
    public IReadOnlyList<Filtering.FilterCount> FilterRules { get; init; } = [];
    /// <summary>Where the rules and filters in force come from (local files or a central policy), and the last refusal.</summary>
    public Policy.PolicyStatus Policy { get; init; } = new();
    public Spool.SpoolCounters? Spool { get; init; }
    /// <summary>The process table (docs/process-context.md).</summary>
    public Enrichment.EnrichmentStatus Enrichment { get; init; } = new();
    /// <summary>The shipper and each collector it ships to, when events go to a collector.</summary>
    public Shipping.ShipperStatus? Shipping { get; init; }
    /// <summary>The agent process's resident memory when the snapshot was taken (VmRSS), bytes.</summary>
    public long RssBytes { get; init; }
    /// <summary>The agent process's highest resident memory since it started (VmHWM), bytes.</summary>
    public long PeakRssBytes { get; init; }
    /// <summary>CPU time the agent process has used in user mode since it started, seconds.</summary>
    public double CpuUserSeconds { get; init; }
    /// <summary>CPU time the agent process has used in the kernel on its behalf since it started, seconds.</summary>
    public double CpuSystemSeconds { get; init; }
    /// <summary>Share of one core the agent process used over the last monitor interval, percent.</summary>
    public float CpuPercent { get; init; }

    /// <summary>Loss on the way in, the kinds of <see cref="CaptureLoss"/>.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public CaptureLoss CaptureLoss => new()
    {
        KernelLost = KernelLost,
        SocketOverruns = SocketOverruns,
        Enobufs = Enobufs,
        SerialGaps = SerialGaps,
        ReassemblyEvicted = ReassemblyEvicted,
        Truncated = Truncated,
        ParseErrors = ParseErrors,
        BacklogWaitTimeActual = BacklogWaitTimeActual,
    };

    /// <summary>Events the spool dropped: by its cap, and in batches it could not append.</summary>
    public long SpoolDroppedEvents => (Spool?.DroppedEvents ?? 0) + SpoolAppendFailedEvents;

    /// <summary>Batches the spool dropped: by its cap, and those it could not append.</summary>
    public long SpoolDroppedBatches => (Spool?.DroppedBatches ?? 0) + SpoolAppendFailedBatches;

    /// <summary>
    /// The kinds whose events make up <see cref="TotalLoss"/>, by the names status and the meter's
    /// <c>kind</c> tag give them (docs/loss-model.md). Quarantined events count (the collector
    /// refused them); quarantine trims do not (those events are already counted as quarantined);
    /// corrupt spool entries count with the events their headers still told.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyList<(string Kind, long Count)> LostEvents =>
    [
        ("kernel_lost", KernelLost),
        ("socket_overruns", SocketOverruns),
        ("serial_gaps", SerialGaps),
        ("reassembly_evicted", ReassemblyEvicted),
        ("spool_dropped", SpoolDroppedEvents),
        ("quarantined", Spool?.QuarantinedEvents ?? 0),
        ("spool_corrupt", Spool?.CorruptEvents ?? 0),
    ];

    /// <summary>Batches lost whole on the delivery path, by kind; none without a spool.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyList<(string Kind, long Count)> LostBatches => Spool is { } s
        ? [("spool_dropped", SpoolDroppedBatches), ("quarantined", s.QuarantinedBatches), ("spool_corrupt", s.CorruptBatches)]
        : [];

    /// <summary>Every kind of loss added up, each event once: what the host produced and nobody will see (<see cref="LostEvents"/>).</summary>
    public long TotalLoss => LostEvents.Sum(k => k.Count);
}
