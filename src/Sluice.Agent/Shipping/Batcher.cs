using Google.Protobuf;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Shipping;

/// <summary>
/// Collects events into EventBatches and hands each one to the sink (the spool) when it reaches
/// <see cref="BatcherOptions.MaxEvents"/> or <see cref="BatcherOptions.MaxBytes"/>, or when its first
/// event has waited <see cref="BatcherOptions.MaxDelay"/>, whichever comes first. Loss counters
/// added between cuts go out with the next batch; a batch with no events is cut for them alone.
/// Thread-safe; the sink is called under the batcher's lock, so it sees one caller at a time.
/// </summary>
public sealed class Batcher : IDisposable
{
    private readonly BatcherOptions _options;
    private readonly AgentIdentity _identity;
    private readonly Action<EventBatch> _sink;
    private readonly TimeProvider _time;
    private readonly Func<string>? _rulesHash;
    private readonly Lock _lock = new();
    private readonly ITimer _timer;

    private EventBatch _open;
    private int _openBytes;
    private LossCounters _openLoss = new();
    private bool _openHasLoss;
    private long _generation;
    private long _armedGeneration = -1;
    private long _intervalStartMs;
    private bool _disposed;

    private long _batches;
    private long _events;
    private long _cutsBySize;
    private long _cutsByTime;
    private long _sinkFailures;
    private long _sinkFailedEvents;

    /// <param name="sink">Receives each cut batch, e.g. <c>spool.Append</c>. If it throws, the batch is counted as lost and its count rides on the next batch as spool_dropped_*.</param>
    /// <param name="rulesHash">The hash of the rules in force, read at each cut.</param>
    public Batcher(BatcherOptions options, AgentIdentity identity, Action<EventBatch> sink, TimeProvider? time = null, Func<string>? rulesHash = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(sink);
        BatcherOptionsValidator.ThrowIfInvalid(options);
        if (string.IsNullOrEmpty(identity.AgentId))
        {
            throw new ArgumentException("the agent id is empty", nameof(identity));
        }
        _options = options;
        _identity = identity;
        _sink = sink;
        _time = time ?? TimeProvider.System;
        _rulesHash = rulesHash;
        _intervalStartMs = _time.GetUtcNow().ToUnixTimeMilliseconds();
        _open = NewBatch();
        _timer = _time.CreateTimer(static s => ((Batcher)s!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    public long BatchesCut => Interlocked.Read(ref _batches);

    public long EventsAdded => Interlocked.Read(ref _events);

    public long CutsBySize => Interlocked.Read(ref _cutsBySize);

    public long CutsByTime => Interlocked.Read(ref _cutsByTime);

    /// <summary>Batches the sink refused (e.g. a disk error); their events are reported as spool_dropped_events.</summary>
    public long SinkFailures => Interlocked.Read(ref _sinkFailures);

    public void Add(Event e)
    {
        ArgumentNullException.ThrowIfNull(e);
        // Field 8, length-delimited: one tag byte plus the length prefix.
        int size = e.CalculateSize();
        size += 1 + CodedOutputStream.ComputeLengthSize(size);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_open.Events.Count > 0 && _openBytes + size > _options.MaxBytes)
            {
                Interlocked.Increment(ref _cutsBySize);
                Cut();
            }
            _open.Events.Add(e);
            _openBytes += size;
            Interlocked.Increment(ref _events);
            if (_open.Events.Count == 1 && !_openHasLoss)
            {
                Arm();
            }
            if (_open.Events.Count >= _options.MaxEvents || _openBytes >= _options.MaxBytes)
            {
                Interlocked.Increment(ref _cutsBySize);
                Cut();
            }
        }
    }

    /// <summary>Adds loss seen since the last call (deltas) to the open batch.</summary>
    public void AddLoss(LossCounters delta)
    {
        ArgumentNullException.ThrowIfNull(delta);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            bool wasEmpty = _open.Events.Count == 0 && !_openHasLoss;
            Accumulate(_openLoss, delta);
            _openHasLoss |= !delta.Equals(new LossCounters());
            if (wasEmpty && _openHasLoss)
            {
                Arm();
            }
        }
    }

    /// <summary>Cuts the open batch now, if it holds anything (e.g. at shutdown).</summary>
    public void Flush()
    {
        lock (_lock)
        {
            if (!_disposed && (_open.Events.Count > 0 || _openHasLoss))
            {
                Cut();
            }
        }
    }

    // Caller holds _lock. The timer cuts the batch that is open now, not a later one.
    private void Arm()
    {
        _armedGeneration = _generation;
        _timer.Change(_options.MaxDelay, Timeout.InfiniteTimeSpan);
    }

    private void OnTimer()
    {
        lock (_lock)
        {
            if (_disposed || _armedGeneration != _generation || (_open.Events.Count == 0 && !_openHasLoss))
            {
                return;
            }
            Interlocked.Increment(ref _cutsByTime);
            Cut();
        }
    }

    // Caller holds _lock.
    private void Cut()
    {
        var batch = _open;
        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        batch.CreatedUnixMs = now;
        batch.IntervalStartUnixMs = _intervalStartMs;
        batch.IntervalEndUnixMs = now;
        batch.RulesHash = _rulesHash?.Invoke() ?? "";
        batch.Loss = _openLoss;
        _intervalStartMs = now;
        _open = NewBatch();
        _openBytes = 0;
        _openLoss = new LossCounters();
        _openHasLoss = false;
        _generation++;
        _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        try
        {
            _sink(batch);
            Interlocked.Increment(ref _batches);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            // The batch is gone; say so in the next one rather than silently.
            Interlocked.Increment(ref _sinkFailures);
            Interlocked.Add(ref _sinkFailedEvents, batch.Events.Count);
            Accumulate(_openLoss, batch.Loss);
            _openLoss.SpoolDroppedBatches += 1;
            _openLoss.SpoolDroppedEvents += (ulong)batch.Events.Count;
            _openHasLoss = true;
            Arm();
        }
    }

    private EventBatch NewBatch() => new()
    {
        AgentId = _identity.AgentId,
        Hostname = _identity.Hostname,
        BootId = _identity.BootId,
    };

    private static void Accumulate(LossCounters total, LossCounters delta)
    {
        total.KernelLost += delta.KernelLost;
        total.SocketOverruns += delta.SocketOverruns;
        total.SerialGaps += delta.SerialGaps;
        total.SpoolDroppedEvents += delta.SpoolDroppedEvents;
        total.SpoolDroppedBatches += delta.SpoolDroppedBatches;
        total.ReassemblyEvicted += delta.ReassemblyEvicted;
        total.Truncated += delta.Truncated;
        total.ParseErrors += delta.ParseErrors;
        total.BacklogWaitTimeActual += delta.BacklogWaitTimeActual;
        total.Filtered += delta.Filtered;
    }

    /// <summary>Cuts what is open and stops the timer.</summary>
    public void Dispose()
    {
        Flush();
        lock (_lock)
        {
            _disposed = true;
            _timer.Dispose();
        }
    }
}
