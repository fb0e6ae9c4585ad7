using System.Diagnostics.CodeAnalysis;
using Sluice.Audit.Tables;

namespace Sluice.Audit.Records;

/// <summary>
/// Groups records into events by serial (and node), and hands each event, complete, to a handler.
/// </summary>
/// <remarks>
/// <para>Completion (auditd's rules, docs/kernel-audit.md, "Records and events"): an EOE record; a record that
/// ends its event on its own (<see cref="EndsEvent"/>); no end within
/// <see cref="AuditReassemblerOptions.Timeout"/> (checked by <see cref="CompleteExpired"/>, on the
/// injected <see cref="TimeProvider"/>); eviction when the in-flight limits are reached; or
/// <see cref="Flush"/>. Records that come before SYSCALL (AVC, CONFIG_CHANGE) and interleaved events
/// are grouped by serial whatever their order. An EOE that trails an event already completed by its
/// PROCTITLE is absorbed.</para>
/// <para>Allocation: records are copied into the event's pooled buffer; event objects are reused
/// once their holder disposes them. In steady state, adding a record allocates nothing.</para>
/// <para>Not thread-safe: one thread adds records (the drain). <see cref="Counters"/> may be read
/// from any thread, and events may be disposed on any thread.</para>
/// </remarks>
public sealed class AuditReassembler
{
    // an EOE trails its PROCTITLE by a few records at most: 64 recent completions cover interleaving
    private const int RecentCapacity = 64;

    private readonly AuditReassemblerOptions _options;
    private readonly TimeProvider _time;
    private readonly Action<AuditEvent> _onEvent;
    private readonly Dictionary<ulong, AuditEvent> _inFlight;
    private readonly Stack<AuditEvent> _pool;
    private readonly int _poolCapacity;
    private readonly ulong[] _recent = new ulong[RecentCapacity];
    private int _recentNext;
    private readonly List<byte[]> _nodes = [[]];
    private readonly List<SerialTracker> _trackers;
    private AuditEvent? _oldest;
    private AuditEvent? _newest;
    private long _inFlightBytes;

    // counters: written by the adding thread only, read by anyone (64-bit reads are atomic on 64-bit)
    private long _recordsAccepted;
    private long _recordsRejected;
    private long _badHeader;
    private long _badLength;
    private long _tooManyNodes;
    private long _badLogLine;
    private long _endOfEvent;
    private long _lastRecord;
    private long _timeout;
    private long _evictedByCount;
    private long _evictedByBytes;
    private long _flushed;
    private long _trailingEoe;
    private long _orphanEoe;
    private long _lateRecords;

    public AuditReassembler(Action<AuditEvent> onEvent, TimeProvider? time = null, AuditReassemblerOptions? options = null)
    {
        _options = options ?? new AuditReassemblerOptions();
        _options.Validate();
        _onEvent = onEvent ?? throw new ArgumentNullException(nameof(onEvent));
        _time = time ?? TimeProvider.System;
        _inFlight = new Dictionary<ulong, AuditEvent>(Math.Min(_options.MaxInFlightEvents, 4096) + 1);
        _poolCapacity = Math.Min(_options.MaxInFlightEvents, 4096) + 64;
        _pool = new Stack<AuditEvent>(_poolCapacity);
        _trackers = [new SerialTracker(_options.SerialWindow)];
        Array.Fill(_recent, ulong.MaxValue);
    }

    /// <summary>Events in flight (started, not complete).</summary>
    public int InFlightEvents => _inFlight.Count;

    /// <summary>Bytes of record text in flight.</summary>
    public long InFlightBytes => Volatile.Read(ref _inFlightBytes);

    /// <summary>Adds one record from the kernel (live path: the type comes from the netlink header).</summary>
    /// <returns>False if the record was rejected (and counted): no valid header, or too long.</returns>
    public bool Add(AuditMessageType type, ReadOnlySpan<byte> kernelText) => Add(type, kernelText, default, default);

    /// <summary>Adds one record with the <c>node=</c> of the host that logged it and auditd's enriched suffix (log files).</summary>
    public bool Add(AuditMessageType type, ReadOnlySpan<byte> kernelText, ReadOnlySpan<byte> node, ReadOnlySpan<byte> enriched)
    {
        if (kernelText.Length + enriched.Length > _options.MaxRecordBytes)
        {
            return Reject(ref _badLength);
        }
        if (!AuditRecordHeader.TryParse(kernelText, out AuditRecordHeader header))
        {
            return Reject(ref _badHeader);
        }
        int nodeId = node.IsEmpty ? 0 : NodeId(node);
        if (nodeId < 0)
        {
            return Reject(ref _tooManyNodes);
        }
        _recordsAccepted++;
        ulong key = ((ulong)(uint)nodeId << 32) | header.Serial;

        if (type == AuditMessageType.Eoe)
        {
            if (_inFlight.TryGetValue(key, out AuditEvent? open))
            {
                Complete(open, CompletionReason.EndOfEvent, ref _endOfEvent);
            }
            else if (WasRecentlyCompleted(key))
            {
                // the EOE after a PROCTITLE that already ended the event (docs/kernel-audit.md, "Records and events")
                _trailingEoe++;
            }
            else
            {
                // the event's other records were lost, or never logged
                _trackers[nodeId].Observe(header.Serial);
                _orphanEoe++;
            }
            return true;
        }

        if (!_inFlight.TryGetValue(key, out AuditEvent? ev))
        {
            if (WasRecentlyCompleted(key))
            {
                // completed already (timeout, eviction): this record starts a second event for the serial
                _lateRecords++;
            }
            else if (type is < AuditMessageTypeRange.FirstDaemon or > AuditMessageTypeRange.LastDaemon)
            {
                // auditd's own records (DAEMON_START, ...) are numbered by auditd, not by the kernel
                _trackers[nodeId].Observe(header.Serial);
            }
            while (_inFlight.Count >= _options.MaxInFlightEvents && _oldest is not null)
            {
                Complete(_oldest, CompletionReason.Evicted, ref _evictedByCount);
            }
            ev = Rent();
            ev.Start(key, header.Serial, header, _nodes[nodeId], _time.GetTimestamp());
            Link(ev);
            _inFlight.Add(key, ev);
        }
        int size = kernelText.Length + enriched.Length;
        while (_inFlightBytes + size > _options.MaxInFlightBytes && _oldest is not null && _oldest != ev)
        {
            Complete(_oldest, CompletionReason.Evicted, ref _evictedByBytes);
        }
        ev.Append(type, kernelText, header.FieldsStart, enriched);
        _inFlightBytes += size;

        if (EndsEvent(type))
        {
            Complete(ev, CompletionReason.LastRecord, ref _lastRecord);
        }
        return true;
    }

    /// <summary>Adds one line of an auditd log (RAW or ENRICHED).</summary>
    public AuditParseError AddLogLine(ReadOnlySpan<byte> line)
    {
        AuditParseError error = AuditLogLine.TryParse(line, out AuditLogLine parsed);
        if (error != AuditParseError.None)
        {
            Reject(ref _badLogLine);
            return error;
        }
        if (!Add(parsed.Type, parsed.KernelText, parsed.Node, parsed.Enriched))
        {
            return parsed.KernelText.Length + parsed.Enriched.Length > _options.MaxRecordBytes ? AuditParseError.BadLength : AuditParseError.BadHeader;
        }
        return AuditParseError.None;
    }

    /// <summary>
    /// auditd's rule for a record that ends its event on its own (auparse; docs/kernel-audit.md, "Records and events"):
    /// PROCTITLE; WATCH_INS (1007) to the last of auditd's own types (1299), which holds the user-space messages
    /// 1100–1199; KERNEL (2000); and the user-space messages from 2100 on. EOE is handled apart: it ends the event
    /// but is not kept.
    /// </summary>
    internal static bool EndsEvent(AuditMessageType type) =>
        type == AuditMessageType.Proctitle
        || type is >= AuditMessageType.WatchIns and <= AuditMessageTypeRange.LastDaemon
        || type == AuditMessageType.Kernel
        || type >= AuditMessageTypeRange.FirstUserMsg2;

    /// <summary>Completes the events that have waited longer than the timeout. Call it after each drain.</summary>
    /// <returns>The number of events completed.</returns>
    public int CompleteExpired()
    {
        int n = 0;
        long now = _time.GetTimestamp();
        while (_oldest is not null && _time.GetElapsedTime(_oldest.FirstSeen, now) >= _options.Timeout)
        {
            Complete(_oldest, CompletionReason.Timeout, ref _timeout);
            n++;
        }
        return n;
    }

    /// <summary>
    /// Counts serials from <paramref name="serial"/> on, as if it had been the last one received: a
    /// restart after a crash resumes where the previous run stopped, so the serials nobody received
    /// in between are counted as gaps. Call before the first record.
    /// </summary>
    public void ResumeAfter(uint serial)
    {
        lock (_trackers)
        {
            _trackers[0].ResumeAfter(serial);
        }
    }

    /// <summary>Completes every event in flight, oldest first (end of input, shutdown).</summary>
    public int Flush()
    {
        int n = 0;
        while (_oldest is not null)
        {
            Complete(_oldest, CompletionReason.Flushed, ref _flushed);
            n++;
        }
        return n;
    }

    /// <summary>A consistent-enough snapshot of the counters, for status and metrics.</summary>
    public AuditReassemblerCounters Counters
    {
        get
        {
            long missing = 0, jumps = 0, reordered = 0, restarts = 0;
            lock (_trackers)
            {
                foreach (SerialTracker t in _trackers)
                {
                    missing += t.Missing;
                    jumps += t.Jumps;
                    reordered += t.Reordered;
                    restarts += t.Restarts;
                }
            }
            return new AuditReassemblerCounters
            {
                RecordsAccepted = Volatile.Read(ref _recordsAccepted),
                RecordsRejected = Volatile.Read(ref _recordsRejected),
                RejectedBadHeader = Volatile.Read(ref _badHeader),
                RejectedBadLength = Volatile.Read(ref _badLength),
                RejectedBadLogLine = Volatile.Read(ref _badLogLine),
                RejectedTooManyNodes = Volatile.Read(ref _tooManyNodes),
                CompletedByEndOfEvent = Volatile.Read(ref _endOfEvent),
                CompletedByLastRecord = Volatile.Read(ref _lastRecord),
                CompletedByTimeout = Volatile.Read(ref _timeout),
                EvictedByCount = Volatile.Read(ref _evictedByCount),
                EvictedByBytes = Volatile.Read(ref _evictedByBytes),
                CompletedByFlush = Volatile.Read(ref _flushed),
                TrailingEndOfEvent = Volatile.Read(ref _trailingEoe),
                OrphanEndOfEvent = Volatile.Read(ref _orphanEoe),
                LateRecords = Volatile.Read(ref _lateRecords),
                SerialGaps = missing,
                SerialJumps = jumps,
                SerialsReordered = reordered,
                SerialRestarts = restarts,
                InFlightEvents = _inFlight.Count,
                InFlightBytes = Volatile.Read(ref _inFlightBytes),
            };
        }
    }

    internal void Return(AuditEvent ev)
    {
        lock (_pool)
        {
            if (_pool.Count < _poolCapacity)
            {
                _pool.Push(ev);
            }
        }
    }

    private AuditEvent Rent()
    {
        lock (_pool)
        {
            if (_pool.TryPop(out AuditEvent? ev))
            {
                return ev;
            }
        }
        return new AuditEvent(this);
    }

    private bool Reject(ref long reason)
    {
        reason++;
        _recordsRejected++;
        return false;
    }

    private void Complete(AuditEvent ev, CompletionReason reason, ref long counter)
    {
        _inFlight.Remove(ev.GroupKey);
        Unlink(ev);
        _inFlightBytes -= ev.TextBytes;
        _recent[_recentNext] = ev.GroupKey;
        _recentNext = (_recentNext + 1) & (RecentCapacity - 1);
        counter++;
        ev.Reason = reason;
        _onEvent(ev);
    }

    private bool WasRecentlyCompleted(ulong key) => _recent.AsSpan().Contains(key);

    private int NodeId(ReadOnlySpan<byte> node)
    {
        for (int i = 1; i < _nodes.Count; i++)
        {
            if (node.SequenceEqual(_nodes[i]))
            {
                return i;
            }
        }
        if (_nodes.Count > _options.MaxNodes)
        {
            return -1;
        }
        lock (_trackers)
        {
            _nodes.Add(node.ToArray());
            _trackers.Add(new SerialTracker(_options.SerialWindow));
        }
        return _nodes.Count - 1;
    }

    private void Link(AuditEvent ev)
    {
        ev.Older = _newest;
        ev.Newer = null;
        if (_newest is not null)
        {
            _newest.Newer = ev;
        }
        _newest = ev;
        _oldest ??= ev;
    }

    private void Unlink(AuditEvent ev)
    {
        if (ev.Older is not null)
        {
            ev.Older.Newer = ev.Newer;
        }
        else
        {
            _oldest = ev.Newer;
        }
        if (ev.Newer is not null)
        {
            ev.Newer.Older = ev.Older;
        }
        else
        {
            _newest = ev.Older;
        }
        ev.Older = null;
        ev.Newer = null;
    }
}

/// <summary>Counters of an <see cref="AuditReassembler"/>, for status and metrics.</summary>
public readonly record struct AuditReassemblerCounters
{
    public long RecordsAccepted { get; init; }
    /// <summary>
    /// Records that could not be parsed (sum of the Rejected* kinds): counted and dropped, nothing of them is kept.
    /// The agent reports them as <c>parse_errors</c> (proto/sluice/v1/events.proto, LossCounters).
    /// </summary>
    public long RecordsRejected { get; init; }
    public long RejectedBadHeader { get; init; }
    public long RejectedBadLength { get; init; }
    public long RejectedBadLogLine { get; init; }
    public long RejectedTooManyNodes { get; init; }
    public long CompletedByEndOfEvent { get; init; }
    public long CompletedByLastRecord { get; init; }
    public long CompletedByTimeout { get; init; }
    public long EvictedByCount { get; init; }
    public long EvictedByBytes { get; init; }
    public long CompletedByFlush { get; init; }
    /// <summary>EOE records that came after their event was already complete (expected after PROCTITLE).</summary>
    public long TrailingEndOfEvent { get; init; }
    /// <summary>EOE records of a serial never seen: the event's other records were lost.</summary>
    public long OrphanEndOfEvent { get; init; }
    /// <summary>Records of a serial whose event had already been completed by timeout or eviction.</summary>
    public long LateRecords { get; init; }
    /// <summary>Serials never received (suspected loss): see <see cref="SerialTracker"/>.</summary>
    public long SerialGaps { get; init; }
    public long SerialJumps { get; init; }
    public long SerialsReordered { get; init; }
    public long SerialRestarts { get; init; }
    public long InFlightEvents { get; init; }
    public long InFlightBytes { get; init; }

    public long Evicted => EvictedByCount + EvictedByBytes;

    public long EventsCompleted => CompletedByEndOfEvent + CompletedByLastRecord + CompletedByTimeout + Evicted + CompletedByFlush;
}
