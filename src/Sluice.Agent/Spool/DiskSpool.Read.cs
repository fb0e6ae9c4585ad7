using System.Buffers;

namespace Sluice.Agent.Spool;

public sealed partial class DiskSpool
{
    /// <summary>
    /// The next published batch after the last one read, in sequence order, or null when there is
    /// none yet. The caller owns the returned entry and disposes it. An entry that fails its
    /// checksum on read is skipped and counted as dropped.
    /// </summary>
    public SpoolEntry? TryRead()
    {
        lock (_lock)
        {
            ThrowIfDisposed();
            while (true)
            {
                if (!TryFindNext(out var segment, out var info))
                {
                    return null;
                }
                _readNext = info.Sequence + 1;
                int total = SpoolEntryFormat.HeaderSize + info.PayloadLength;
                byte[] buffer = ArrayPool<byte>.Shared.Rent(total);
                var span = buffer.AsSpan(0, total);
                int read = RandomAccess.Read(segment.Handle, span, info.Offset);
                if (read == total
                    && SpoolEntryFormat.TryReadHeader(span, _maxPayload, out int length, out ulong sequence, out _, out _, out _) is null
                    && length == info.PayloadLength
                    && sequence == info.Sequence
                    && SpoolEntryFormat.ChecksumMatches(span, span.Slice(SpoolEntryFormat.HeaderSize, length)))
                {
                    return new SpoolEntry(info.Sequence, info.EventCount, buffer, SpoolEntryFormat.HeaderSize, info.PayloadLength);
                }
                ArrayPool<byte>.Shared.Return(buffer);
                SpoolLog.CorruptOnRead(_logger, info.Sequence, segment.Path);
                _droppedBatches++;
                _droppedEvents += info.EventCount;
                _pendingDroppedBatches += 1 + info.CarriedBatches;
                _pendingDroppedEvents += (ulong)info.EventCount + info.CarriedEvents;
            }
        }
    }

    /// <summary>Completes when <see cref="TryRead"/> may return an entry (or the spool is disposed).</summary>
    public ValueTask WaitToReadAsync(CancellationToken cancellationToken = default)
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

    /// <summary>True when the cap dropped this batch from the spool: it is reported as lost, so it must not be delivered any more.</summary>
    public bool IsDropped(ulong sequence)
    {
        lock (_lock)
        {
            return sequence <= _droppedThrough && sequence > _ackedThrough;
        }
    }

    /// <summary>Makes the reader start again after the last acknowledged (or dropped) batch, e.g. when a new shipper takes over.</summary>
    public void RewindReader()
    {
        lock (_lock)
        {
            _readNext = Floor + 1;
        }
    }

    /// <summary>
    /// Records that every batch up to <paramref name="sequence"/> is done with (acknowledged by the
    /// collector, or set aside in quarantine). Call in sequence order. Segments whose batches are
    /// all done are deleted.
    /// </summary>
    public void Acknowledge(ulong sequence)
    {
        lock (_lock)
        {
            ThrowIfDisposed();
            if (sequence <= _ackedThrough)
            {
                return;
            }
            if (sequence >= _nextSequence)
            {
                throw new ArgumentOutOfRangeException(nameof(sequence), sequence, $"no batch {sequence} was written yet (next is {_nextSequence})");
            }
            _ackedThrough = sequence;
            List<Segment>? covered = null;
            foreach (var segment in _segments)
            {
                while (segment.FirstLive < segment.Entries.Count && segment.Entries[segment.FirstLive].Sequence <= sequence)
                {
                    _ackedBatches++;
                    _ackedEvents += segment.Entries[segment.FirstLive].EventCount;
                    _depthBatches--;
                    _depthEvents -= segment.Entries[segment.FirstLive].EventCount;
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
            else if (_time.GetElapsedTime(_lastStatePersist) >= _options.AckPersistInterval)
            {
                PersistState();
            }
        }
    }

    // Caller holds _lock.
    private bool TryFindNext(out Segment segment, out EntryInfo info)
    {
        ulong wanted = Math.Max(_readNext, Floor + 1);
        foreach (var s in _segments)
        {
            if (s.Entries.Count == 0 || s.LastSequence < wanted)
            {
                continue;
            }
            int lo = s.FirstLive;
            int hi = s.Entries.Count - 1;
            while (lo < hi)
            {
                int mid = (lo + hi) >>> 1;
                if (s.Entries[mid].Sequence < wanted)
                {
                    lo = mid + 1;
                }
                else
                {
                    hi = mid;
                }
            }
            segment = s;
            info = s.Entries[lo];
            return true;
        }
        segment = null!;
        info = default;
        return false;
    }
}
