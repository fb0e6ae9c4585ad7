using System.Buffers;
using System.Globalization;

namespace Sluice.Agent.Spool;

public sealed partial class DiskSpool
{
    private void Recover()
    {
        Directory.CreateDirectory(_directory);
        File.Delete(Path.Combine(_directory, SpoolState.FileName + ".tmp"));

        SpoolState state;
        bool stateKnown;
        try
        {
            SpoolState? read = SpoolState.Read(_directory);
            state = read ?? SpoolState.Initial;
            stateKnown = read is not null;
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            SpoolLog.StateUnusable(_logger, e);
            state = SpoolState.Initial;
            stateKnown = false;
        }
        _ackedThrough = state.AckedThrough;
        _droppedThrough = state.DroppedThrough;
        ulong floor = Floor;

        var files = new List<(ulong First, string Path)>();
        foreach (string path in Directory.EnumerateFiles(_directory, "*" + SegmentExtension))
        {
            string stem = Path.GetFileNameWithoutExtension(path);
            if (stem.Length == 20 && ulong.TryParse(stem, NumberStyles.None, CultureInfo.InvariantCulture, out ulong first))
            {
                files.Add((first, path));
            }
        }
        files.Sort((a, b) => a.First.CompareTo(b.First));

        ulong previous = 0;
        ulong gapBatches = 0;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            foreach (var (first, path) in files)
            {
                var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
                var segment = new Segment(path, first, handle) { Sealed = true };
                long length = RandomAccess.GetLength(handle);
                long offset = 0;
                string? reason = null;
                while (offset < length)
                {
                    reason = ReadEntryForRecovery(handle, offset, length, previous, ref buffer, out var info);
                    if (reason is not null)
                    {
                        break;
                    }
                    segment.Entries.Add(info);
                    previous = info.Sequence;
                    offset += SpoolEntryFormat.HeaderSize + info.PayloadLength;
                }
                if (offset < length)
                {
                    // A torn write (crash mid-append) or damage: keep everything before it.
                    RandomAccess.SetLength(handle, offset);
                    RandomAccess.FlushToDisk(handle);
                    _recoveryCutBytes += length - offset;
                    SpoolLog.TailCut(_logger, path, length - offset, offset, reason!, segment.Entries.Count);
                }
                segment.Length = offset;
                if (segment.Entries.Count == 0)
                {
                    handle.Dispose();
                    File.Delete(path);
                    continue;
                }
                _segments.Add(segment);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        // Sequences missing between entries that were never acknowledged nor dropped were lost to
        // damage on disk: count them as dropped batches (their events cannot be known).
        ulong expected = floor + 1;
        foreach (var segment in _segments)
        {
            foreach (var entry in segment.Entries)
            {
                if (entry.Sequence > expected && (stateKnown || expected > floor + 1))
                {
                    ulong missing = entry.Sequence - expected;
                    gapBatches += missing;
                    SpoolLog.Gap(_logger, expected, entry.Sequence - 1, missing);
                }
                expected = Math.Max(expected, entry.Sequence + 1);
            }
        }
        if (stateKnown && state.NextSequence > expected)
        {
            // Batches the state file says were written after the last one now on disk.
            ulong missing = state.NextSequence - expected;
            gapBatches += missing;
            SpoolLog.Gap(_logger, expected, state.NextSequence - 1, missing);
        }

        ulong lastOnDisk = _segments.Count > 0 ? _segments[^1].LastSequence : 0;
        _nextSequence = Math.Max(Math.Max(state.NextSequence, lastOnDisk + 1), floor + 1);

        // A drop recorded before a crash is delivered once its carrier batch is on disk (or gone
        // past the floor); otherwise it rides on the next batch.
        bool carried = state.PendingCarrierSequence != 0 && (lastOnDisk >= state.PendingCarrierSequence || floor >= state.PendingCarrierSequence);
        if (!carried)
        {
            _pendingDroppedEvents = state.PendingDroppedEvents;
            _pendingDroppedBatches = state.PendingDroppedBatches;
        }
        _pendingDroppedBatches += gapBatches;
        _droppedBatches += (long)gapBatches;
        _pendingCarrier = _nextSequence;

        foreach (var segment in _segments)
        {
            _depthBytes += segment.Length;
            while (segment.FirstLive < segment.Entries.Count && segment.Entries[segment.FirstLive].Sequence <= floor)
            {
                segment.FirstLive++;
            }
            for (int i = segment.FirstLive; i < segment.Entries.Count; i++)
            {
                _depthBatches++;
                _depthEvents += segment.Entries[i].EventCount;
            }
            _recoveredBatches += segment.Entries.Count - segment.FirstLive;
        }
        _readNext = floor + 1;

        lock (_lock)
        {
            PersistState();
            foreach (var covered in _segments.Where(s => s.FirstLive == s.Entries.Count).ToList())
            {
                DeleteSegment(covered);
            }
        }
        SpoolLog.Opened(_logger, _directory, _depthBatches, _depthBytes, _nextSequence, _ackedThrough);
    }

    private string? ReadEntryForRecovery(Microsoft.Win32.SafeHandles.SafeFileHandle handle, long offset, long length, ulong previous, ref byte[] buffer, out EntryInfo info)
    {
        info = default;
        if (length - offset < SpoolEntryFormat.HeaderSize)
        {
            return $"header cut short: {length - offset} of {SpoolEntryFormat.HeaderSize} bytes";
        }
        Span<byte> header = stackalloc byte[SpoolEntryFormat.HeaderSize];
        RandomAccess.Read(handle, header, offset);
        string? reason = SpoolEntryFormat.TryReadHeader(header, _maxPayload, out int payloadLength, out ulong sequence, out int events, out ulong carriedBatches, out ulong carriedEvents);
        if (reason is not null)
        {
            return reason;
        }
        long available = length - offset - SpoolEntryFormat.HeaderSize;
        if (payloadLength > available)
        {
            return $"payload cut short: {available} of {payloadLength} bytes";
        }
        if (buffer.Length < payloadLength)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            buffer = ArrayPool<byte>.Shared.Rent(payloadLength);
        }
        var payload = buffer.AsSpan(0, payloadLength);
        if (RandomAccess.Read(handle, payload, offset + SpoolEntryFormat.HeaderSize) != payloadLength)
        {
            return "payload cut short while reading";
        }
        if (!SpoolEntryFormat.ChecksumMatches(header, payload))
        {
            return "checksum mismatch";
        }
        if (sequence <= previous)
        {
            return $"sequence {sequence} does not follow {previous}";
        }
        info = new EntryInfo(sequence, offset, payloadLength, events, carriedBatches, carriedEvents);
        return null;
    }
}
