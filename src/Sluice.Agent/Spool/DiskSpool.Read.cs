using System.Buffers;

namespace Sluice.Agent.Spool;

public sealed partial class DiskSpool
{
    /// <summary>
    /// The next published batch after the last one read, in sequence order, or null when there is
    /// none yet. The caller owns the returned entry and disposes it. An entry that fails its
    /// checksum on read is skipped and counted as corrupt (spool_corrupt_batches and _events, with
    /// the event count the index kept for it), reported in the next batch appended.
    /// </summary>
    public SpoolEntry? TryRead()
    {
        bool corrupt = false;
        try
        {
            return TryReadLocked(ref corrupt);
        }
        finally
        {
            if (corrupt)
            {
                LossRecorded?.Invoke();
            }
        }
    }

    private SpoolEntry? TryReadLocked(ref bool corrupt)
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
                int total = info.Length;
                byte[] buffer = ArrayPool<byte>.Shared.Rent(total);
                var span = buffer.AsSpan(0, total);
                int read = RandomAccess.Read(segment.Handle, span, info.Offset);
                if (read == total
                    && SpoolEntryFormat.TryReadHeader(span, _maxPayload, out var header) is null
                    && header.HeaderLength == info.HeaderLength
                    && header.PayloadLength == info.PayloadLength
                    && header.Sequence == info.Sequence
                    && SpoolEntryFormat.ChecksumMatches(span[..info.HeaderLength], span.Slice(info.HeaderLength, info.PayloadLength)))
                {
                    return new SpoolEntry(info.Sequence, info.EventCount, buffer, info.HeaderLength, info.PayloadLength);
                }
                ArrayPool<byte>.Shared.Return(buffer);
                SpoolLog.CorruptOnRead(_logger, info.Sequence, segment.Path, info.EventCount);
                _corruptBatches++;
                _corruptEvents += info.EventCount;
                // Lost with it: whatever it reported. The next batch appended reports both.
                _pending += info.CarriedLoss + new DeliveryLoss { SpoolCorruptBatches = 1, SpoolCorruptEvents = (ulong)info.EventCount };
                corrupt = true;
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
        else if (persist || _time.GetElapsedTime(_lastStatePersist) >= _options.AckPersistInterval)
        {
            PersistState();
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
