using System.Buffers;
using System.Runtime.InteropServices;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Spool;

/// <summary>
/// The spool's write side: stamps each batch with its sequence, epoch and the delivery loss it
/// carries, makes room under the cap, writes the entry to the active segment, rolls to a new
/// segment when it is full, and fsyncs per <see cref="SpoolOptions.Fsync"/> (after each batch, or
/// on an interval, publishing the batches to the reader only after their fsync).
/// </summary>
/// <remarks>
/// Its lock, the gate (<c>_gate</c>), lets one append, interval fsync or epoch change run at a
/// time; it guards the active segment, the entries written but not yet published, and the fsync
/// timing. It is taken before the index's lock, never after (the lock order is in
/// <see cref="DiskSpool"/>). Segment data is written and fsynced outside the index's lock, so the
/// reader is not held up by it.
/// </remarks>
internal sealed class SpoolWriter
{
    // Room kept for the delivery loss counters that may be added to a batch after its size was
    // measured (eight uint64 varint fields and the LossCounters header).
    private const int LossCounterReserve = 96;

    private readonly SpoolIndex _index;
    private readonly SpoolOptions _options;
    private readonly string _directory;
    private readonly int _maxPayload;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    private readonly Lock _gate = new();

    private SegmentFile? _active;
    // With FsyncMode.Interval: entries written to the active segment since its last fsync. A roll
    // publishes them, so they are always in the active segment.
    private readonly List<IndexEntry> _unpublished = [];
    private readonly ITimer? _fsyncTimer;
    private long _lastFsync;
    private bool _closed;

    private long _fsyncs;
    private long _writeErrors;

    public SpoolWriter(SpoolIndex index, SpoolSettings settings)
    {
        _index = index;
        (_options, _directory, _maxPayload, _time, _logger) = settings;
        if (_options.Fsync == FsyncMode.Interval)
        {
            _fsyncTimer = _time.CreateTimer(static s => ((SpoolWriter)s!).OnFsyncTimer(), this, _options.FsyncInterval, _options.FsyncInterval);
        }
    }

    /// <summary>Segment fsyncs since open.</summary>
    public long Fsyncs => Interlocked.Read(ref _fsyncs);

    /// <summary>Appends that failed to write since open.</summary>
    public long WriteErrors => Interlocked.Read(ref _writeErrors);

    /// <summary>
    /// See <see cref="DiskSpool.Append(Shipping.CutBatch)"/>. <paramref name="events"/>: serialized
    /// field-8 entries that follow the serialized <paramref name="batch"/>; <paramref name="eventCount"/> of them.
    /// </summary>
    public ulong Append(EventBatch batch, ReadOnlyMemory<byte> events, int eventCount)
    {
        lock (_gate)
        {
            ThrowIfClosed();
            var savedLoss = batch.Loss;
            // The epoch changes only under the gate too, so the batch's epoch and sequence agree.
            var start = _index.BeginAppend();
            ulong sequence = start.Sequence;
            batch.Epoch = start.Epoch;
            batch.EpochStartSequence = start.EpochStartSequence;
            var carrying = start.Carrying;
            SegmentFile? segment = null;
            long offset = 0;
            bool written = false;
            try
            {
                batch.Sequence = sequence;
                ApplyLoss(batch, savedLoss, carrying);
                int payloadLength = batch.CalculateSize() + events.Length;
                if (payloadLength + LossCounterReserve > _maxPayload)
                {
                    throw new ArgumentException($"batch of {payloadLength} bytes does not fit a spool segment (at most {_maxPayload - LossCounterReserve} bytes; raise {SpoolOptions.Section}:SegmentBytes or lower the batch size)", nameof(batch));
                }
                MakeRoom(SpoolEntryFormat.HeaderSize + payloadLength + LossCounterReserve);
                var carryingNow = _index.Carrying;
                if (!ReferenceEquals(carryingNow, carrying))
                {
                    // Making room dropped segments: this batch carries that drop too.
                    carrying = carryingNow;
                    ApplyLoss(batch, savedLoss, carrying);
                    payloadLength = batch.CalculateSize() + events.Length;
                }
                // Whatever delivery loss this batch reports (added here, or already set by the caller)
                // is reported again if this batch is lost in turn.
                var carried = DeliveryLoss.From(batch.Loss);

                int total = SpoolEntryFormat.HeaderSize + payloadLength;
                int own = total - events.Length;
                int eventsInBatch = batch.Events.Count + eventCount;
                byte[] buffer = ArrayPool<byte>.Shared.Rent(own);
                try
                {
                    batch.WriteTo(buffer.AsSpan(SpoolEntryFormat.HeaderSize, own - SpoolEntryFormat.HeaderSize));
                    SpoolEntryFormat.WriteHeader(buffer.AsSpan(0, own), events.Span, payloadLength, sequence, eventsInBatch, carried);
                    segment = EnsureActive(total, sequence);
                    offset = segment.Length;
                    segment.Write(buffer.AsMemory(0, own), events);
                    if (_options.Fsync == FsyncMode.PerBatch)
                    {
                        segment.Flush();
                        Interlocked.Increment(ref _fsyncs);
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }

                var entry = new IndexEntry(sequence, offset, SpoolEntryFormat.HeaderSize, payloadLength, eventsInBatch, carried.IsNone ? null : carried);
                bool publish = _options.Fsync != FsyncMode.Interval;
                _index.CompleteAppend(segment, entry, total, publish);
                if (!publish)
                {
                    _unpublished.Add(entry);
                }
                written = true;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Interlocked.Increment(ref _writeErrors);
                if (segment is not null)
                {
                    SpoolLog.WriteFailed(_logger, segment.Path, e);
                    segment.CutBack(offset);
                }
                throw;
            }
            finally
            {
                if (!written)
                {
                    // Not accepted: the loss it would have carried waits for the next batch.
                    batch.Loss = savedLoss;
                    _index.AbortAppend();
                }
            }
            if (_options.Fsync == FsyncMode.Interval && _time.GetElapsedTime(_lastFsync) >= _options.FsyncInterval)
            {
                FlushInterval();
            }
            return sequence;
        }
    }

    private static void ApplyLoss(EventBatch batch, LossCounters? callerLoss, DeliveryLoss carrying)
    {
        if (carrying.IsNone)
        {
            batch.Loss = callerLoss;
            return;
        }
        var loss = callerLoss?.Clone() ?? new LossCounters();
        carrying.AddTo(loss);
        batch.Loss = loss;
    }

    /// <summary>See <see cref="DiskSpool.SetAside"/>: under the gate, so that no append is between taking its epoch and its sequence while the epoch changes.</summary>
    public void SetAside(ulong sequence, int eventCount, DeliveryLoss trimmed, bool newEpoch)
    {
        lock (_gate)
        {
            ThrowIfClosed();
            _index.SetAside(sequence, eventCount, trimmed, newEpoch);
        }
    }

    /// <summary>See <see cref="DiskSpool.Flush"/>.</summary>
    public void Flush()
    {
        lock (_gate)
        {
            ThrowIfClosed();
            FlushInterval();
        }
    }

    // Caller holds _gate.
    private void FlushInterval()
    {
        if (_options.Fsync != FsyncMode.Interval)
        {
            return;
        }
        _lastFsync = _time.GetTimestamp();
        if (_unpublished.Count == 0 || _active is null)
        {
            return;
        }
        _active.Flush();
        Interlocked.Increment(ref _fsyncs);
        _index.Publish(_active, CollectionsMarshal.AsSpan(_unpublished));
        _unpublished.Clear();
    }

    private void OnFsyncTimer()
    {
        lock (_gate)
        {
            if (_closed)
            {
                return;
            }
            try
            {
                FlushInterval();
            }
            catch (IOException e)
            {
                SpoolLog.FsyncFailed(_logger, e);
            }
        }
    }

    // Caller holds _gate. Returns the segment the next entry of `size` bytes goes into.
    private SegmentFile EnsureActive(int size, ulong sequence)
    {
        if (_active is not null && (_active.Length == 0 || _active.Length + size <= _options.SegmentBytes))
        {
            return _active;
        }
        SealActive();
        var segment = SegmentFile.Create(_directory, sequence, syncDirectory: _options.Fsync != FsyncMode.Never);
        _index.AddSegment(segment);
        _active = segment;
        return segment;
    }

    // Caller holds _gate.
    private void SealActive()
    {
        if (_active is null)
        {
            return;
        }
        if (_options.Fsync != FsyncMode.Never)
        {
            _active.Flush();
            Interlocked.Increment(ref _fsyncs);
        }
        var sealing = _active;
        try
        {
            _index.Seal(sealing, CollectionsMarshal.AsSpan(_unpublished));
        }
        finally
        {
            _unpublished.Clear();
            _active = null;
        }
    }

    // Caller holds _gate. Drops the oldest segments until `size` more bytes fit under the cap.
    private void MakeRoom(int size)
    {
        while (_index.OldestOverCap(size) is { } oldest)
        {
            if (ReferenceEquals(oldest, _active))
            {
                SealActive();
            }
            // Sealing may have found it all done with and deleted it; then this does nothing.
            _index.DropForCap(oldest);
        }
    }

    /// <summary>See <see cref="DiskSpool.Dispose"/>: fsyncs the active segment, then the index publishes what is written, writes the state and closes the files.</summary>
    public void Close()
    {
        lock (_gate)
        {
            if (_closed)
            {
                return;
            }
            _fsyncTimer?.Dispose();
            bool flushed = false;
            try
            {
                if (_active is not null && _options.Fsync != FsyncMode.Never)
                {
                    _active.Flush();
                }
                flushed = true;
            }
            finally
            {
                _closed = true;
                _index.Close(persist: flushed, _active, CollectionsMarshal.AsSpan(_unpublished));
            }
        }
    }

    private void ThrowIfClosed() => ObjectDisposedException.ThrowIf(_closed, typeof(DiskSpool));
}
