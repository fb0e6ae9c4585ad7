using System.Buffers;
using Google.Protobuf;
using Sluice.Agent.Shipping;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Spool;

public sealed partial class DiskSpool
{
    // Room kept for the delivery loss counters that may be added to a batch after its size was
    // measured (eight uint64 varint fields and the LossCounters header).
    private const int LossCounterReserve = 96;

    /// <summary>
    /// Assigns the batch its sequence and the spool's epoch, adds any delivery loss not yet reported
    /// (spool drops, quarantined batches and trims, corruption) to its loss counters, and writes it
    /// durably (per <see cref="SpoolOptions.Fsync"/>). When the cap would be passed, the oldest
    /// segments are dropped first. Returns the sequence.
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
            DeliveryLoss carrying;
            lock (_lock)
            {
                // The epoch changes only under _writeGate too, so the batch's epoch and sequence agree.
                sequence = _nextSequence;
                batch.Epoch = _epoch;
                batch.EpochStartSequence = _epochStart;
                _carrying = _pending;
                _pending = DeliveryLoss.None;
                _appending = true;
                carrying = _carrying;
            }
            Segment? segment = null;
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
                lock (_lock)
                {
                    if (!ReferenceEquals(_carrying, carrying))
                    {
                        // Making room dropped segments: this batch carries that drop too.
                        carrying = _carrying;
                        ApplyLoss(batch, savedLoss, carrying);
                        payloadLength = -1;
                    }
                }
                if (payloadLength < 0)
                {
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
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }

                var info = new EntryInfo(sequence, offset, SpoolEntryFormat.HeaderSize, payloadLength, eventsInBatch, carried.IsNone ? null : carried);
                lock (_lock)
                {
                    _nextSequence = sequence + 1;
                    _carrying = DeliveryLoss.None;
                    _appending = false;
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
                written = true;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
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
                if (!written)
                {
                    // Not accepted: the loss it would have carried waits for the next batch.
                    batch.Loss = savedLoss;
                    lock (_lock)
                    {
                        _pending = _carrying + _pending;
                        _carrying = DeliveryLoss.None;
                        _appending = false;
                    }
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

    /// <summary>
    /// Records that batch <paramref name="sequence"/>, read and sent, was refused by the collector and
    /// set aside (quarantined): it is done with, like an acknowledged batch (see <see cref="Acknowledge"/>),
    /// and its loss goes out with the next batch appended, as quarantined_batches and _events, together
    /// with <paramref name="trimmed"/> (quarantined batches the quarantine's cap deleted to make room).
    /// With <paramref name="newEpoch"/> (the collector answered ALREADY_EXISTS: another spool claims the
    /// key), batches appended from now on carry a new epoch starting at the next sequence; batches
    /// already in the spool keep theirs. The state file is written before this returns, so that the
    /// loss and the epoch survive a crash.
    /// </summary>
    public void SetAside(ulong sequence, int eventCount, DeliveryLoss trimmed, bool newEpoch)
    {
        ArgumentNullException.ThrowIfNull(trimmed);
        ArgumentOutOfRangeException.ThrowIfNegative(eventCount);
        // _writeGate: no append is between taking its epoch and its sequence while the epoch changes.
        lock (_writeGate)
        {
            ThrowIfDisposed();
            lock (_lock)
            {
                if (sequence <= _ackedThrough || sequence >= _nextSequence)
                {
                    throw new ArgumentOutOfRangeException(nameof(sequence), sequence, $"batch {sequence} is not waiting in the spool (acknowledged through {_ackedThrough}, next {_nextSequence})");
                }
                var loss = trimmed;
                // A batch the cap dropped while it was in flight is reported as dropped already.
                bool live = sequence > _droppedThrough;
                if (live)
                {
                    // It is not stored, so neither is the delivery loss it reported: report that again.
                    if (TryFindEntry(sequence, out var entry))
                    {
                        loss += entry.CarriedLoss;
                    }
                    loss += new DeliveryLoss { QuarantinedBatches = 1, QuarantinedEvents = (ulong)eventCount };
                    _quarantinedBatches++;
                    _quarantinedEvents += eventCount;
                }
                _trimmedBatches += (long)trimmed.QuarantineTrimmedBatches;
                _trimmedEvents += (long)trimmed.QuarantineTrimmedEvents;
                _pending += loss;
                // A batch cut under an epoch that is already superseded needs no new one.
                if (newEpoch && sequence >= _epochStart)
                {
                    string previous = _epoch;
                    StartEpoch();
                    SpoolLog.EpochAfterConflict(_logger, previous, sequence, _epoch, _epochStart);
                }
                AcknowledgeLocked(sequence, persist: true);
                if (live)
                {
                    // Done with, but not delivered: AckedBatches and AckedEvents count what the collector stored.
                    _ackedBatches--;
                    _ackedEvents -= eventCount;
                }
            }
        }
        LossRecorded?.Invoke();
    }

    /// <summary>
    /// Raised (outside the spool's locks) when delivery loss was recorded that waits for the next
    /// batch appended: a batch set aside, an entry unreadable on read. The batcher cuts a batch for it
    /// (<see cref="Batcher.RequestCut"/>), so that it reaches the collector on a quiet host too.
    /// </summary>
    public event Action? LossRecorded;

    // Caller holds _lock (and _writeGate, or is opening the spool).
    private void StartEpoch()
    {
        _epoch = SpoolState.NewEpoch();
        _epochStart = _nextSequence;
        _epochsStarted++;
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
        var handle = PrivateFiles.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read);
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
                var carried = DeliveryLoss.None;
                for (int i = oldest.FirstLive; i < oldest.Entries.Count; i++)
                {
                    batches++;
                    events += oldest.Entries[i].EventCount;
                    carried += oldest.Entries[i].CarriedLoss;
                }
                ulong from = oldest.FirstLive < oldest.Entries.Count ? oldest.Entries[oldest.FirstLive].Sequence : 0;
                ulong to = oldest.LastSequence;
                long depthBefore = _depthBytes;
                _droppedThrough = Math.Max(_droppedThrough, to);
                // Only an append makes room: the batch being appended reports the drop, and whatever
                // the dropped batches reported themselves.
                _carrying += carried + new DeliveryLoss { SpoolDroppedBatches = (ulong)batches, SpoolDroppedEvents = (ulong)events };
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
