using Microsoft.Extensions.Logging;

namespace Sluice.Agent.Spool;

/// <summary>
/// The spool's index and state: which entries each segment holds and which of them are done with,
/// the sequences (next, acknowledged through, dropped through), the epoch, the delivery loss not
/// yet carried by a batch, the reader's position, the depth and lifetime counters, and the state
/// file (<see cref="SpoolState"/>) that keeps what must survive a restart. It decides when a
/// segment file is no longer needed, and deletes it only after the state that makes it
/// unnecessary is on disk.
/// </summary>
/// <remarks>
/// One lock, <c>_lock</c>, guards all of it. Reads of segment data happen under it too, and
/// segments are deleted under it, so a segment handle is never closed under a reader. The index
/// never calls the writer; the writer's gate (<see cref="SpoolWriter"/>) is taken before this
/// lock, never after (the lock order is in <see cref="DiskSpool"/>).
/// </remarks>
internal sealed class SpoolIndex
{
    private readonly SpoolOptions _options;
    private readonly string _directory;
    private readonly int _maxPayload;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    private readonly Lock _lock = new();

    private readonly List<IndexedSegment> _segments;

    private ulong _nextSequence;
    private ulong _ackedThrough;
    private ulong _droppedThrough;
    private string _epoch;
    private ulong _epochStart;
    private long _lastStatePersist;

    // Delivery loss not yet in any batch. It goes out with the next batch appended; while an
    // append is under way (_appending), that batch has taken _carrying, and what is recorded
    // meanwhile waits in _pending for the batch after it. Both are in the state file, each with
    // its carrier, so that a restart knows which of them reached the disk.
    private DeliveryLoss _pending;
    private DeliveryLoss _carrying = DeliveryLoss.None;
    private bool _appending;

    private ulong _readNext;
    private TaskCompletionSource _readable = NewSignal();
    private bool _disposed;

    private Counts _counts;

    private SpoolIndex(RecoveredSpool recovered, SpoolSettings settings)
    {
        (_options, _directory, _maxPayload, _time, _logger) = settings;
        _segments = recovered.Segments;
        _nextSequence = recovered.NextSequence;
        _ackedThrough = recovered.AckedThrough;
        _droppedThrough = recovered.DroppedThrough;
        _epoch = recovered.Epoch;
        _epochStart = recovered.EpochStartSequence;
        _counts.EpochsStarted = recovered.EpochsStarted;
        _pending = recovered.Unreported;
        _counts.CorruptBatches = (long)recovered.Corrupt.SpoolCorruptBatches;
        _counts.CorruptEvents = (long)recovered.Corrupt.SpoolCorruptEvents;
        _counts.RecoveryCutBytes = recovered.CutBytes;
        ulong floor = Floor;
        foreach (var segment in _segments)
        {
            _counts.DepthBytes += segment.File.Length;
            while (segment.FirstLive < segment.Entries.Count && segment.Entries[segment.FirstLive].Sequence <= floor)
            {
                segment.FirstLive++;
            }
            for (int i = segment.FirstLive; i < segment.Entries.Count; i++)
            {
                _counts.DepthBatches++;
                _counts.DepthEvents += segment.Entries[i].EventCount;
            }
            _counts.RecoveredBatches += segment.Entries.Count - segment.FirstLive;
        }
        _readNext = floor + 1;
    }

    /// <summary>
    /// The index of what <see cref="SpoolRecovery"/> found on disk. Writes the state file, deletes
    /// the segments whose batches are all done with, and logs what the spool holds.
    /// </summary>
    public static SpoolIndex Open(RecoveredSpool recovered, SpoolSettings settings)
    {
        var index = new SpoolIndex(recovered, settings);
        lock (index._lock)
        {
            index.PersistState();
            foreach (var covered in index._segments.Where(s => s.AllDone).ToList())
            {
                index.DeleteSegment(covered);
            }
        }
        SpoolLog.Opened(settings.Logger, settings.Directory, index._counts.DepthBatches, index._counts.DepthBytes, index._nextSequence, index._ackedThrough, index._epoch, index._epochStart);
        return index;
    }

    /// <summary>See <see cref="DiskSpool.Epoch"/>.</summary>
    public string Epoch
    {
        get
        {
            lock (_lock)
            {
                return _epoch;
            }
        }
    }

    /// <summary>See <see cref="DiskSpool.EpochStartSequence"/>.</summary>
    public ulong EpochStartSequence
    {
        get
        {
            lock (_lock)
            {
                return _epochStart;
            }
        }
    }

    /// <summary>The loss the append under way carries now (the cap's drops, made while it made room, add to it).</summary>
    public DeliveryLoss Carrying
    {
        get
        {
            lock (_lock)
            {
                return _carrying;
            }
        }
    }

    private ulong Floor => Math.Max(_ackedThrough, _droppedThrough);

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>A snapshot of depth and counters; the writer's own (fsyncs, write errors) are left at 0.</summary>
    public SpoolCounters Snapshot()
    {
        lock (_lock)
        {
            return new SpoolCounters
            {
                DepthBytes = _counts.DepthBytes,
                DepthBatches = _counts.DepthBatches,
                DepthEvents = _counts.DepthEvents,
                Segments = _segments.Count,
                WrittenBatches = _counts.WrittenBatches,
                WrittenEvents = _counts.WrittenEvents,
                WrittenBytes = _counts.WrittenBytes,
                AckedBatches = _counts.AckedBatches,
                AckedEvents = _counts.AckedEvents,
                DroppedBatches = _counts.DroppedBatches,
                DroppedEvents = _counts.DroppedEvents,
                CorruptBatches = _counts.CorruptBatches,
                CorruptEvents = _counts.CorruptEvents,
                QuarantinedBatches = _counts.QuarantinedBatches,
                QuarantinedEvents = _counts.QuarantinedEvents,
                QuarantineTrimmedBatches = _counts.TrimmedBatches,
                QuarantineTrimmedEvents = _counts.TrimmedEvents,
                UnreportedLoss = _pending + _carrying,
                Epoch = _epoch,
                EpochStartSequence = _epochStart,
                EpochsStarted = _counts.EpochsStarted,
                RecoveredBatches = _counts.RecoveredBatches,
                RecoveryCutBytes = _counts.RecoveryCutBytes,
                NextSequence = _nextSequence,
                AckedThrough = _ackedThrough,
                DroppedThrough = _droppedThrough,
            };
        }
    }

    // ---- The writer's side: appends, segments, the cap. The writer calls these under its gate.

    /// <summary>
    /// Starts an append: its sequence and epoch, and the loss not yet reported, which the batch now
    /// carries. Ends with <see cref="CompleteAppend"/> or <see cref="AbortAppend"/>.
    /// </summary>
    public AppendStart BeginAppend()
    {
        lock (_lock)
        {
            _carrying = _pending;
            _pending = DeliveryLoss.None;
            _appending = true;
            return new AppendStart(_nextSequence, _epoch, _epochStart, _carrying);
        }
    }

    /// <summary>The append's entry is written (<paramref name="bytes"/> of it in <paramref name="segment"/>): its sequence is used and what it carries is reported. With <paramref name="publish"/>, readers see it now; otherwise when the writer publishes it after an fsync.</summary>
    public void CompleteAppend(SegmentFile segment, IndexEntry entry, int bytes, bool publish)
    {
        lock (_lock)
        {
            _nextSequence = entry.Sequence + 1;
            _carrying = DeliveryLoss.None;
            _appending = false;
            _counts.DepthBytes += bytes;
            _counts.WrittenBatches++;
            _counts.WrittenEvents += entry.EventCount;
            _counts.WrittenBytes += bytes;
            if (publish)
            {
                Publish(Find(segment), entry);
            }
        }
    }

    /// <summary>The append failed: the loss it would have carried waits for the next batch.</summary>
    public void AbortAppend()
    {
        lock (_lock)
        {
            _pending = _carrying + _pending;
            _carrying = DeliveryLoss.None;
            _appending = false;
        }
    }

    /// <summary>A new segment, the active one now (it is the newest).</summary>
    public void AddSegment(SegmentFile segment)
    {
        lock (_lock)
        {
            _segments.Add(new IndexedSegment(segment, isSealed: false));
        }
    }

    /// <summary>Makes entries written (and fsynced) earlier visible to the reader.</summary>
    public void Publish(SegmentFile segment, ReadOnlySpan<IndexEntry> entries)
    {
        lock (_lock)
        {
            Publish(Find(segment), entries);
        }
    }

    /// <summary>The writer moves on from <paramref name="segment"/>: publishes what it still held back, and deletes the segment if everything in it is done with.</summary>
    public void Seal(SegmentFile segment, ReadOnlySpan<IndexEntry> unpublished)
    {
        lock (_lock)
        {
            var indexed = Find(segment);
            Publish(indexed, unpublished);
            indexed.Sealed = true;
            if (indexed.AllDone)
            {
                PersistState();
                DeleteSegment(indexed);
            }
        }
    }

    /// <summary>The oldest segment, when <paramref name="size"/> more bytes would pass the cap; else null.</summary>
    public SegmentFile? OldestOverCap(int size)
    {
        lock (_lock)
        {
            return _counts.DepthBytes + size <= _options.MaxBytes || _segments.Count == 0 ? null : _segments[0].File;
        }
    }

    /// <summary>
    /// Drops a sealed segment to keep under the cap: its live batches are lost, counted, and carried
    /// by the batch being appended, with whatever they reported themselves. Does nothing when the
    /// segment is gone already (its batches were all done with).
    /// </summary>
    public void DropForCap(SegmentFile segment)
    {
        lock (_lock)
        {
            int at = _segments.FindIndex(s => ReferenceEquals(s.File, segment));
            if (at < 0)
            {
                return;
            }
            var oldest = _segments[at];
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
            long depthBefore = _counts.DepthBytes;
            _droppedThrough = Math.Max(_droppedThrough, to);
            // Only an append makes room: the batch being appended reports the drop, and whatever
            // the dropped batches reported themselves.
            _carrying += carried + new DeliveryLoss { SpoolDroppedBatches = (ulong)batches, SpoolDroppedEvents = (ulong)events };
            _counts.DroppedBatches += batches;
            _counts.DroppedEvents += events;
            _counts.DepthBatches -= batches;
            _counts.DepthEvents -= events;
            oldest.FirstLive = oldest.Entries.Count;
            // The drop is on disk (and will reach the collector) before the data is gone.
            PersistState();
            DeleteSegment(oldest);
            if (_readNext <= _droppedThrough)
            {
                _readNext = _droppedThrough + 1;
            }
            SpoolLog.Dropped(_logger, depthBefore, _options.MaxBytes, segment.Path, batches, events, from, to, _nextSequence);
        }
    }

    /// <summary>
    /// See <see cref="DiskSpool.SetAside"/>. The writer calls it under its gate, so that no append
    /// is between taking its epoch and its sequence while the epoch changes.
    /// </summary>
    public void SetAside(ulong sequence, int eventCount, DeliveryLoss trimmed, bool newEpoch)
    {
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
                if (IndexedSegment.TryFind(_segments, sequence, out var entry))
                {
                    loss += entry.CarriedLoss;
                }
                loss += new DeliveryLoss { QuarantinedBatches = 1, QuarantinedEvents = (ulong)eventCount };
                _counts.QuarantinedBatches++;
                _counts.QuarantinedEvents += eventCount;
            }
            _counts.TrimmedBatches += (long)trimmed.QuarantineTrimmedBatches;
            _counts.TrimmedEvents += (long)trimmed.QuarantineTrimmedEvents;
            _pending += loss;
            // A batch cut under an epoch that is already superseded needs no new one.
            if (newEpoch && sequence >= _epochStart)
            {
                string previous = _epoch;
                _epoch = SpoolState.NewEpoch();
                _epochStart = _nextSequence;
                _counts.EpochsStarted++;
                SpoolLog.EpochAfterConflict(_logger, previous, sequence, _epoch, _epochStart);
            }
            AcknowledgeLocked(sequence, persist: true);
            if (live)
            {
                // Done with, but not delivered: AckedBatches and AckedEvents count what the collector stored.
                _counts.AckedBatches--;
                _counts.AckedEvents -= eventCount;
            }
        }
    }

    /// <summary>
    /// The writer closes the spool: publishes what it held back into <paramref name="active"/> and
    /// writes the state file (with <paramref name="persist"/>: its last fsync succeeded), then, in
    /// any case, closes the segment files and wakes a waiting reader.
    /// </summary>
    public void Close(bool persist, SegmentFile? active, ReadOnlySpan<IndexEntry> unpublished)
    {
        lock (_lock)
        {
            try
            {
                if (persist)
                {
                    if (active is not null && !unpublished.IsEmpty)
                    {
                        Publish(Find(active), unpublished);
                    }
                    PersistState();
                }
            }
            finally
            {
                _disposed = true;
                foreach (var segment in _segments)
                {
                    segment.File.Dispose();
                }
                _readable.TrySetResult();
            }
        }
    }

    // ---- The reader's side.

    /// <summary>See <see cref="DiskSpool.TryRead"/>. Sets <paramref name="corrupt"/> when an entry failed its check (loss was recorded).</summary>
    public SpoolEntry? TryRead(ref bool corrupt)
    {
        lock (_lock)
        {
            ThrowIfDisposed();
            while (true)
            {
                if (!TryFindNext(out var segment, out var entry))
                {
                    return null;
                }
                _readNext = entry.Sequence + 1;
                if (segment.File.TryRead(entry, _maxPayload) is { } read)
                {
                    return read;
                }
                SpoolLog.CorruptOnRead(_logger, entry.Sequence, segment.File.Path, entry.EventCount);
                _counts.CorruptBatches++;
                _counts.CorruptEvents += entry.EventCount;
                // Lost with it: whatever it reported. The next batch appended reports both.
                _pending += entry.CarriedLoss + new DeliveryLoss { SpoolCorruptBatches = 1, SpoolCorruptEvents = (ulong)entry.EventCount };
                corrupt = true;
            }
        }
    }

    /// <summary>See <see cref="DiskSpool.WaitToReadAsync"/>.</summary>
    public ValueTask WaitToReadAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_disposed || TryFindNext(out _, out _))
            {
                return ValueTask.CompletedTask;
            }
            if (_readable.Task.IsCompleted)
            {
                _readable = NewSignal();
            }
            return new ValueTask(_readable.Task.WaitAsync(cancellationToken));
        }
    }

    /// <summary>See <see cref="DiskSpool.IsDropped"/>.</summary>
    public bool IsDropped(ulong sequence)
    {
        lock (_lock)
        {
            return sequence <= _droppedThrough && sequence > _ackedThrough;
        }
    }

    /// <summary>See <see cref="DiskSpool.RewindReader"/>.</summary>
    public void RewindReader()
    {
        lock (_lock)
        {
            _readNext = Floor + 1;
        }
    }

    /// <summary>See <see cref="DiskSpool.Acknowledge"/>.</summary>
    public void Acknowledge(ulong sequence)
    {
        lock (_lock)
        {
            ThrowIfDisposed();
            AcknowledgeLocked(sequence, persist: false);
        }
    }

    // Caller holds _lock. `persist`: write the state file even if no segment is deleted.
    private void AcknowledgeLocked(ulong sequence, bool persist)
    {
        if (sequence <= _ackedThrough)
        {
            return;
        }
        if (sequence >= _nextSequence)
        {
            throw new ArgumentOutOfRangeException(nameof(sequence), sequence, $"no batch {sequence} was written yet (next is {_nextSequence})");
        }
        _ackedThrough = sequence;
        List<IndexedSegment>? covered = null;
        foreach (var segment in _segments)
        {
            while (segment.FirstLive < segment.Entries.Count && segment.Entries[segment.FirstLive].Sequence <= sequence)
            {
                _counts.AckedBatches++;
                _counts.AckedEvents += segment.Entries[segment.FirstLive].EventCount;
                _counts.DepthBatches--;
                _counts.DepthEvents -= segment.Entries[segment.FirstLive].EventCount;
                segment.FirstLive++;
            }
            if (segment.FirstLive < segment.Entries.Count)
            {
                break;
            }
            if (segment.Sealed)
            {
                (covered ??= []).Add(segment);
            }
        }
        if (covered is not null)
        {
            PersistState();
            foreach (var segment in covered)
            {
                DeleteSegment(segment);
            }
        }
        else if (persist || _time.GetElapsedTime(_lastStatePersist) >= _options.AckPersistInterval)
        {
            PersistState();
        }
    }

    // Caller holds _lock.
    private bool TryFindNext(out IndexedSegment segment, out IndexEntry entry)
    {
        ulong wanted = Math.Max(_readNext, Floor + 1);
        foreach (var s in _segments)
        {
            if (s.Entries.Count == 0 || s.LastSequence < wanted)
            {
                continue;
            }
            segment = s;
            entry = s.FirstLiveFrom(wanted);
            return true;
        }
        segment = null!;
        entry = default;
        return false;
    }

    // Caller holds _lock.
    private void Publish(IndexedSegment segment, ReadOnlySpan<IndexEntry> entries)
    {
        foreach (var entry in entries)
        {
            Publish(segment, entry);
        }
    }

    // Caller holds _lock.
    private void Publish(IndexedSegment segment, IndexEntry entry)
    {
        segment.Entries.Add(entry);
        _counts.DepthBatches++;
        _counts.DepthEvents += entry.EventCount;
        _readable.TrySetResult();
    }

    // Caller holds _lock. The writer's segments are the newest: look from the end.
    private IndexedSegment Find(SegmentFile file)
    {
        for (int i = _segments.Count - 1; i >= 0; i--)
        {
            if (ReferenceEquals(_segments[i].File, file))
            {
                return _segments[i];
            }
        }
        throw new InvalidOperationException($"spool segment {file.Path} is not in the index");
    }

    // Caller holds _lock. The pending loss rides on the next batch appended: this one if none is
    // under way, else the one after it.
    private void PersistState()
    {
        ulong pendingCarrier = _appending ? _nextSequence + 1 : _nextSequence;
        new SpoolState(_nextSequence, _ackedThrough, _droppedThrough, _epoch, _epochStart,
            _pending, _pending.IsNone ? 0 : pendingCarrier,
            _carrying, _carrying.IsNone ? 0 : _nextSequence).Write(_directory);
        _lastStatePersist = _time.GetTimestamp();
    }

    // Caller holds _lock and has persisted the state that makes this segment unnecessary.
    private void DeleteSegment(IndexedSegment segment)
    {
        segment.File.Delete();
        _segments.Remove(segment);
        _counts.DepthBytes -= segment.File.Length;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, typeof(DiskSpool));

    /// <summary>The start of an append: its sequence, the epoch it is cut under, and the loss it carries.</summary>
    public readonly record struct AppendStart(ulong Sequence, string Epoch, ulong EpochStartSequence, DeliveryLoss Carrying);

    /// <summary>Depth (what is on disk and not done with) and lifetime counts since open.</summary>
    private struct Counts
    {
        public long DepthBytes;
        public long DepthBatches;
        public long DepthEvents;
        public long WrittenBatches;
        public long WrittenEvents;
        public long WrittenBytes;
        public long AckedBatches;
        public long AckedEvents;
        public long DroppedBatches;
        public long DroppedEvents;
        public long CorruptBatches;
        public long CorruptEvents;
        public long QuarantinedBatches;
        public long QuarantinedEvents;
        public long TrimmedBatches;
        public long TrimmedEvents;
        public long EpochsStarted;
        public long RecoveredBatches;
        public long RecoveryCutBytes;
    }
}
