using System.Buffers;
using Google.Protobuf;
using Sluice.Agent.Shipping;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Spool;

public sealed partial class DiskSpool
{
    // Room kept for the spool drop counters that may be added to a batch after its size was measured
    // (two uint64 varint fields and the LossCounters header).
    private const int LossCounterReserve = 32;

    /// <summary>
    /// Assigns the batch its sequence, adds any not yet reported spool drops to its loss counters,
    /// and writes it durably (per <see cref="SpoolOptions.Fsync"/>). When the cap would be passed,
    /// the oldest segments are dropped first. Returns the sequence.
    /// </summary>
    /// <exception cref="ArgumentException">The batch is larger than <see cref="MaxBatchBytes"/>.</exception>
    /// <exception cref="IOException">The write failed; the batch was not accepted and nothing already accepted is affected.</exception>
    public ulong Append(EventBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        return Append(batch, ReadOnlyMemory<byte>.Empty, 0);
    }

    /// <summary>
    /// Appends a batch as the <see cref="Batcher"/> cuts it: its header fields, then its events
    /// as they were serialized when added (written as they are, without another copy).
    /// Otherwise as <see cref="Append(EventBatch)"/>.
    /// </summary>
    public ulong Append(CutBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch.Header);
        return Append(batch.Header, batch.Events, batch.EventCount);
    }

    // `events`: serialized field-8 entries that follow the serialized `batch`; `eventCount` of them.
    private ulong Append(EventBatch batch, ReadOnlyMemory<byte> events, int eventCount)
    {
        lock (_writeGate)
        {
            ThrowIfDisposed();
            var savedLoss = batch.Loss;
            ulong sequence;
            ulong pendingEvents;
            ulong pendingBatches;
            lock (_lock)
            {
                sequence = _nextSequence;
                pendingEvents = _pendingDroppedEvents;
                pendingBatches = _pendingDroppedBatches;
            }
            batch.Sequence = sequence;
            ApplyPendingDrop(batch, savedLoss, pendingEvents, pendingBatches);
            int payloadLength = batch.CalculateSize() + events.Length;
            if (payloadLength + LossCounterReserve > _maxPayload)
            {
                batch.Loss = savedLoss;
                throw new ArgumentException($"batch of {payloadLength} bytes does not fit a spool segment (at most {_maxPayload - LossCounterReserve} bytes; raise {SpoolOptions.Section}:SegmentBytes or lower the batch size)", nameof(batch));
            }
            MakeRoom(SpoolEntryFormat.HeaderSize + payloadLength + LossCounterReserve);
            lock (_lock)
            {
                if (_pendingDroppedEvents != pendingEvents || _pendingDroppedBatches != pendingBatches)
                {
                    // Making room dropped segments: this batch carries that drop too.
                    pendingEvents = _pendingDroppedEvents;
                    pendingBatches = _pendingDroppedBatches;
                    ApplyPendingDrop(batch, savedLoss, pendingEvents, pendingBatches);
                    payloadLength = -1;
                }
            }
            if (payloadLength < 0)
            {
                payloadLength = batch.CalculateSize() + events.Length;
            }
            // Whatever spool drop this batch reports (added here, or already set by the caller) is
            // re-reported if this batch is dropped in turn.
            ulong carriedBatches = batch.Loss?.SpoolDroppedBatches ?? 0;
            ulong carriedEvents = batch.Loss?.SpoolDroppedEvents ?? 0;

            int total = SpoolEntryFormat.HeaderSize + payloadLength;
            int own = total - events.Length;
            int eventsInBatch = batch.Events.Count + eventCount;
            byte[] buffer = ArrayPool<byte>.Shared.Rent(own);
            Segment? segment = null;
            long offset = 0;
            try
            {
                batch.WriteTo(buffer.AsSpan(SpoolEntryFormat.HeaderSize, own - SpoolEntryFormat.HeaderSize));
                SpoolEntryFormat.WriteHeader(buffer.AsSpan(0, own), events.Span, payloadLength, sequence, eventsInBatch, carriedBatches, carriedEvents);
                segment = EnsureActive(total, sequence);
                offset = segment.Length;
                if (events.IsEmpty)
                {
                    RandomAccess.Write(segment.Handle, buffer.AsSpan(0, own), offset);
                }
                else
                {
                    RandomAccess.Write(segment.Handle, [buffer.AsMemory(0, own), events], offset);
                }
                segment.Length = offset + total;
                if (_options.Fsync == FsyncMode.PerBatch)
                {
                    RandomAccess.FlushToDisk(segment.Handle);
                    Interlocked.Increment(ref _fsyncs);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                batch.Loss = savedLoss;
                Interlocked.Increment(ref _writeErrors);
                if (segment is not null)
                {
                    SpoolLog.WriteFailed(_logger, segment.Path, e);
                    segment.Length = offset;
                    try
                    {
                        // Cut whatever part of the entry reached the file, so the next append follows a whole entry.
                        RandomAccess.SetLength(segment.Handle, offset);
                    }
                    catch (IOException)
                    {
                        // Recovery cuts it at the next open; the entry is not published either way.
                    }
                }
                throw;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }

            var info = new EntryInfo(sequence, offset, payloadLength, eventsInBatch, carriedBatches, carriedEvents);
            lock (_lock)
            {
                _nextSequence = sequence + 1;
                _pendingDroppedEvents -= pendingEvents;
                _pendingDroppedBatches -= pendingBatches;
                _depthBytes += total;
                _writtenBatches++;
                _writtenEvents += eventsInBatch;
                _writtenBytes += total;
                if (_options.Fsync == FsyncMode.Interval)
                {
                    _unpublished.Add(info);
                }
                else
                {
                    Publish(segment, info);
                }
            }
            if (_options.Fsync == FsyncMode.Interval && _time.GetElapsedTime(_lastFsync) >= _options.FsyncInterval)
            {
                FlushInterval();
            }
            return sequence;
        }
    }

    private static void ApplyPendingDrop(EventBatch batch, LossCounters? callerLoss, ulong pendingEvents, ulong pendingBatches)
    {
        if (pendingEvents == 0 && pendingBatches == 0)
        {
            batch.Loss = callerLoss;
            return;
        }
        var loss = callerLoss?.Clone() ?? new LossCounters();
        loss.SpoolDroppedEvents += pendingEvents;
        loss.SpoolDroppedBatches += pendingBatches;
        batch.Loss = loss;
    }

    /// <summary>With <see cref="FsyncMode.Interval"/>: fsyncs and publishes what was written since the last fsync. Otherwise does nothing.</summary>
    public void Flush()
    {
        lock (_writeGate)
        {
            ThrowIfDisposed();
            FlushInterval();
        }
    }

    // Caller holds _writeGate.
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
        RandomAccess.FlushToDisk(_active.Handle);
        Interlocked.Increment(ref _fsyncs);
        lock (_lock)
        {
            PublishUnpublished();
        }
    }

    private void OnFsyncTimer()
    {
        lock (_writeGate)
        {
            if (_disposed)
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

    // Caller holds _lock. Unpublished entries are always in the active segment (a roll publishes them).
    private void PublishUnpublished()
    {
        if (_unpublished.Count == 0 || _active is null)
        {
            return;
        }
        foreach (var info in _unpublished)
        {
            Publish(_active, info);
        }
        _unpublished.Clear();
    }

    // Caller holds _lock.
    private void Publish(Segment segment, EntryInfo info)
    {
        segment.Entries.Add(info);
        _depthBatches++;
        _depthEvents += info.EventCount;
        _readable.TrySetResult();
    }

    // Caller holds _writeGate. Returns the segment the next entry of `size` bytes goes into.
    private Segment EnsureActive(int size, ulong sequence)
    {
        if (_active is not null && (_active.Length == 0 || _active.Length + size <= _options.SegmentBytes))
        {
            return _active;
        }
        SealActive();
        string path = Path.Combine(_directory, SegmentName(sequence));
        var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read);
        if (_options.Fsync != FsyncMode.Never)
        {
            DirectorySync.Flush(_directory);
        }
        var segment = new Segment(path, sequence, handle);
        lock (_lock)
        {
            _segments.Add(segment);
            _active = segment;
        }
        return segment;
    }

    // Caller holds _writeGate.
    private void SealActive()
    {
        if (_active is null)
        {
            return;
        }
        if (_options.Fsync != FsyncMode.Never)
        {
            RandomAccess.FlushToDisk(_active.Handle);
            Interlocked.Increment(ref _fsyncs);
        }
        lock (_lock)
        {
            PublishUnpublished();
            _active.Sealed = true;
            var sealedSegment = _active;
            _active = null;
            if (sealedSegment.FirstLive == sealedSegment.Entries.Count)
            {
                PersistState();
                DeleteSegment(sealedSegment);
            }
        }
    }

    // Caller holds _writeGate. Drops the oldest segments until `size` more bytes fit under the cap.
    private void MakeRoom(int size)
    {
        while (true)
        {
            Segment oldest;
            lock (_lock)
            {
                if (_depthBytes + size <= _options.MaxBytes || _segments.Count == 0)
                {
                    return;
                }
                oldest = _segments[0];
            }
            if (ReferenceEquals(oldest, _active))
            {
                SealActive();
            }
            lock (_lock)
            {
                if (!_segments.Contains(oldest))
                {
                    continue; // sealing found it fully acknowledged and deleted it
                }
                long batches = 0;
                long events = 0;
                ulong carriedBatches = 0;
                ulong carriedEvents = 0;
                for (int i = oldest.FirstLive; i < oldest.Entries.Count; i++)
                {
                    batches++;
                    events += oldest.Entries[i].EventCount;
                    carriedBatches += oldest.Entries[i].CarriedBatches;
                    carriedEvents += oldest.Entries[i].CarriedEvents;
                }
                ulong from = oldest.FirstLive < oldest.Entries.Count ? oldest.Entries[oldest.FirstLive].Sequence : 0;
                ulong to = oldest.LastSequence;
                long depthBefore = _depthBytes;
                _droppedThrough = Math.Max(_droppedThrough, to);
                _pendingDroppedBatches += (ulong)batches + carriedBatches;
                _pendingDroppedEvents += (ulong)events + carriedEvents;
                _pendingCarrier = _nextSequence;
                _droppedBatches += batches;
                _droppedEvents += events;
                _depthBatches -= batches;
                _depthEvents -= events;
                oldest.FirstLive = oldest.Entries.Count;
                // The drop is on disk (and will reach the collector) before the data is gone.
                PersistState();
                DeleteSegment(oldest);
                if (_readNext <= _droppedThrough)
                {
                    _readNext = _droppedThrough + 1;
                }
                SpoolLog.Dropped(_logger, depthBefore, _options.MaxBytes, oldest.Path, batches, events, from, to, _nextSequence);
            }
        }
    }
}
