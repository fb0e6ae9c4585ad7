using System.Buffers;
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
/// <remarks>
/// Each event is serialized when it is added, into one buffer that is reused batch after batch,
/// so no event object outlives its <see cref="Add"/> (they die young, in gen0, instead of being
/// promoted while a batch fills) and each event is sized and written once, not again when the
/// batch is spooled. The sink receives a <see cref="CutBatch"/>: the header and those bytes.
/// </remarks>
internal sealed class Batcher : IDisposable
{
    private readonly BatcherOptions _options;
    private readonly AgentIdentity _identity;
    private readonly Action<CutBatch> _sink;
    private readonly TimeProvider _time;
    private readonly Func<string>? _rulesHash;
    private readonly Lock _lock = new();
    private readonly ITimer _timer;

    private EventBatch _open;
    private int _openBytes;
    private byte[] _buffer;
    private int _openEvents;
    private uint _highestSerial;
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
    /// <param name="rulesHash">The hash of the rules in force, read at each cut into <see cref="EventBatch.RulesHash"/>: the one the heartbeat sends (<see cref="Monitoring.AgentMetrics.RulesHash"/>). Without it batches carry none.</param>
    public Batcher(BatcherOptions options, AgentIdentity identity, Action<CutBatch> sink, TimeProvider? time = null, Func<string>? rulesHash = null)
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
        // Grows by doubling to what the batches need: at most MaxBytes plus the last event.
        _buffer = ArrayPool<byte>.Shared.Rent(Math.Min(options.MaxBytes, 64 * 1024));
        _timer = _time.CreateTimer(static s => ((Batcher)s!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    public long BatchesCut => Interlocked.Read(ref _batches);

    public long EventsAdded => Interlocked.Read(ref _events);

    public long CutsBySize => Interlocked.Read(ref _cutsBySize);

    public long CutsByTime => Interlocked.Read(ref _cutsByTime);

    /// <summary>Batches the sink refused (e.g. a disk error); reported as spool_dropped_batches.</summary>
    public long SinkFailures => Interlocked.Read(ref _sinkFailures);

    /// <summary>Events of <see cref="SinkFailures"/>; reported as spool_dropped_events.</summary>
    public long SinkFailedEvents => Interlocked.Read(ref _sinkFailedEvents);

    public void Add(Event e)
    {
        ArgumentNullException.ThrowIfNull(e);
        // Field 8, length-delimited: one tag byte plus the length prefix.
        int length = e.CalculateSize();
        int size = 1 + CodedOutputStream.ComputeLengthSize(length) + length;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_openEvents > 0 && _openBytes + size > _options.MaxBytes)
            {
                Interlocked.Increment(ref _cutsBySize);
                Cut();
            }
            Append(e, length, size);
            uint serial = (uint)e.Serial;
            // modulo 2^32, as the kernel's counter wraps
            if (_openEvents == 0 || (int)(serial - _highestSerial) > 0)
            {
                _highestSerial = serial;
            }
            _openEvents++;
            Interlocked.Increment(ref _events);
            if (_openEvents == 1 && !_openHasLoss)
            {
                Arm();
            }
            if (_openEvents >= _options.MaxEvents || _openBytes >= _options.MaxBytes)
            {
                Interlocked.Increment(ref _cutsBySize);
                Cut();
            }
        }
    }

    // Caller holds _lock. Writes the event as field 8 of an EventBatch: tag, length, message.
    private void Append(Event e, int length, int size)
    {
        if (_openBytes + size > _buffer.Length)
        {
            byte[] bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_openBytes + size, _buffer.Length * 2));
            _buffer.AsSpan(0, _openBytes).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = bigger;
        }
        var span = _buffer.AsSpan(_openBytes, size);
        span[0] = EventsTag;
        int at = 1;
        for (uint v = (uint)length; ; v >>= 7)
        {
            if (v < 0x80)
            {
                span[at++] = (byte)v;
                break;
            }
            span[at++] = (byte)(v | 0x80);
        }
        e.WriteTo(span[at..]);
        _openBytes += size;
    }

    // Field 8 (events), wire type 2 (length-delimited).
    private const byte EventsTag = (8 << 3) | 2;

    /// <summary>Adds loss seen since the last call (deltas) to the open batch (the loss monitor's, docs/loss-model.md).</summary>
    public void AddLoss(LossCounters delta)
    {
        ArgumentNullException.ThrowIfNull(delta);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            bool wasEmpty = _openEvents == 0 && !_openHasLoss;
            Accumulate(_openLoss, delta);
            _openHasLoss |= !delta.Equals(new LossCounters());
            if (wasEmpty && _openHasLoss)
            {
                Arm();
            }
        }
    }

    /// <summary>
    /// Makes sure a batch is cut within <see cref="BatcherOptions.MaxDelay"/> even if nothing is added:
    /// the sink has loss of its own to put in it (the spool's delivery loss, see <see cref="Spool.DiskSpool.LossRecorded"/>).
    /// </summary>
    public void RequestCut()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            bool wasEmpty = _openEvents == 0 && !_openHasLoss;
            _openHasLoss = true;
            if (wasEmpty)
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
            if (!_disposed && (_openEvents > 0 || _openHasLoss))
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
            if (_disposed || _armedGeneration != _generation || (_openEvents == 0 && !_openHasLoss))
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
        int events = _openEvents;
        var cut = new CutBatch(batch, _buffer.AsMemory(0, _openBytes), events, events > 0 ? _highestSerial : null);
        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        batch.CreatedUnixMs = now;
        batch.IntervalStartUnixMs = _intervalStartMs;
        batch.IntervalEndUnixMs = now;
        batch.RulesHash = _rulesHash?.Invoke() ?? "";
        batch.Loss = _openLoss;
        _intervalStartMs = now;
        _open = NewBatch();
        _openLoss = new LossCounters();
        _openHasLoss = false;
        _generation++;
        _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        try
        {
            _sink(cut);
            Interlocked.Increment(ref _batches);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            // The batch is gone; say so in the next one rather than silently.
            Interlocked.Increment(ref _sinkFailures);
            Interlocked.Add(ref _sinkFailedEvents, events);
            Accumulate(_openLoss, batch.Loss);
            new Spool.DeliveryLoss { SpoolDroppedBatches = 1, SpoolDroppedEvents = (ulong)events }.AddTo(_openLoss);
            _openHasLoss = true;
            Arm();
        }
        finally
        {
            // The sink has copied the events (or failed); the buffer takes the next batch.
            _openBytes = 0;
            _openEvents = 0;
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
        total.QuarantinedBatches += delta.QuarantinedBatches;
        total.QuarantinedEvents += delta.QuarantinedEvents;
        total.QuarantineTrimmedBatches += delta.QuarantineTrimmedBatches;
        total.QuarantineTrimmedEvents += delta.QuarantineTrimmedEvents;
        total.SpoolCorruptBatches += delta.SpoolCorruptBatches;
        total.SpoolCorruptEvents += delta.SpoolCorruptEvents;
    }

    /// <summary>Cuts what is open and stops the timer.</summary>
    public void Dispose()
    {
        Flush();
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            _timer.Dispose();
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }
    }
}
