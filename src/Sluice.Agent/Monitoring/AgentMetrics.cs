namespace Sluice.Agent.Monitoring;

/// <summary>
/// The running agent's figures: what it drained, kept, filtered and wrote, every loss kind,
/// and the drain settings in force. Written by the jobs, read by status, heartbeats and
/// metrics from any thread.
/// </summary>
public sealed class AgentMetrics
{
    private long _records;
    private long _events;
    private long _filtered;
    private long _written;
    private long _writeFailures;
    private long _kernelLost;
    private long _socketDrops;
    private long _socketOverrunErrors;
    private long _serialGaps;
    private long _truncated;
    private long _evicted;
    private long _parseErrors;
    private long _spoolDropped;
    private long _waitActual;
    private long _adjustments;
    private long _replaceRequests;
    private long _watchdogReasserts;

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
    public volatile string RulesHash = "";

    /// <summary>Takes each monitor tick's loss, to carry it to the collector (set by the collector sink).</summary>
    public Action<Sluice.Protocol.V1.LossCounters>? LossReporter { get; set; }

    /// <summary>The spool's figures, when events go to a collector.</summary>
    public Func<Spool.SpoolCounters>? SpoolCounters { get; set; }

    /// <summary>Per filter rule counts, supplied by the pipeline.</summary>
    public Func<IReadOnlyList<Filtering.FilterCount>>? FilterCounts { get; set; }

    public void AddRecords(long n) => Interlocked.Add(ref _records, n);
    public void AddEvent() => Interlocked.Increment(ref _events);
    public long Events => Volatile.Read(ref _events);
    public void AddFiltered() => Interlocked.Increment(ref _filtered);
    public void AddWritten() => Interlocked.Increment(ref _written);
    public void AddWriteFailure() => Interlocked.Increment(ref _writeFailures);
    public void AddKernelLost(long n) => Interlocked.Add(ref _kernelLost, n);
    public void AddSocketDrops(long n) => Interlocked.Add(ref _socketDrops, n);
    public void AddSocketOverrunErrors(long n) => Interlocked.Add(ref _socketOverrunErrors, n);
    public void AddSerialGaps(long n) => Interlocked.Add(ref _serialGaps, n);
    public void AddTruncated(long n) => Interlocked.Add(ref _truncated, n);
    public void AddEvicted(long n) => Interlocked.Add(ref _evicted, n);
    public void AddParseErrors(long n) => Interlocked.Add(ref _parseErrors, n);
    public void AddSpoolDropped(long n) => Interlocked.Add(ref _spoolDropped, n);
    public void AddWaitActual(long n) => Interlocked.Add(ref _waitActual, n);
    public void AddAdjustment() => Interlocked.Increment(ref _adjustments);
    public void AddReplaceRequests(long n) => Interlocked.Add(ref _replaceRequests, n);
    public void AddWatchdogReassert() => Interlocked.Increment(ref _watchdogReasserts);

    public MetricsSnapshot Snapshot() => new()
    {
        StartedUtc = StartedUtc,
        Mode = Mode,
        Records = Volatile.Read(ref _records),
        Events = Events,
        Filtered = Volatile.Read(ref _filtered),
        Written = Volatile.Read(ref _written),
        WriteFailures = Volatile.Read(ref _writeFailures),
        KernelLost = Volatile.Read(ref _kernelLost),
        SocketDrops = Volatile.Read(ref _socketDrops),
        SocketOverrunErrors = Volatile.Read(ref _socketOverrunErrors),
        SerialGaps = Volatile.Read(ref _serialGaps),
        Truncated = Volatile.Read(ref _truncated),
        ReassemblyEvicted = Volatile.Read(ref _evicted),
        ParseErrors = Volatile.Read(ref _parseErrors),
        SpoolDropped = Volatile.Read(ref _spoolDropped),
        BacklogWaitTimeActual = Volatile.Read(ref _waitActual),
        Adjustments = Volatile.Read(ref _adjustments),
        ReplaceRequests = Volatile.Read(ref _replaceRequests),
        WatchdogReasserts = Volatile.Read(ref _watchdogReasserts),
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
        Spool = SpoolCounters?.Invoke(),
    };
}

/// <summary>A consistent-enough copy of <see cref="AgentMetrics"/> for output.</summary>
public sealed record MetricsSnapshot
{
    public DateTimeOffset StartedUtc { get; init; }
    public string Mode { get; init; } = "";
    public long Records { get; init; }
    public long Events { get; init; }
    public long Filtered { get; init; }
    public long Written { get; init; }
    public long WriteFailures { get; init; }
    public long KernelLost { get; init; }
    public long SocketDrops { get; init; }
    public long SocketOverrunErrors { get; init; }
    public long SerialGaps { get; init; }
    public long Truncated { get; init; }
    public long ReassemblyEvicted { get; init; }
    public long ParseErrors { get; init; }
    public long SpoolDropped { get; init; }
    public long BacklogWaitTimeActual { get; init; }
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
    public Spool.SpoolCounters? Spool { get; init; }

    /// <summary>Events dropped by the spool's cap: the spool's own count when there is a spool, else the pipeline's.</summary>
    public long SpoolDroppedEvents => Spool?.DroppedEvents ?? SpoolDropped;

    /// <summary>
    /// Every kind of loss added up, each event once: what the host produced and nobody will see.
    /// Quarantined events count (the collector refused them); quarantine trims do not (those events
    /// are already counted as quarantined); corrupt spool entries count with the events their
    /// headers still told.
    /// </summary>
    public long TotalLoss => KernelLost + SocketDrops + SerialGaps + ReassemblyEvicted + SpoolDroppedEvents
        + (Spool?.QuarantinedEvents ?? 0) + (Spool?.CorruptEvents ?? 0);
}
