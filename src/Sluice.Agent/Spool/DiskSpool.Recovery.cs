using System.Buffers;
using System.Globalization;
using Microsoft.Win32.SafeHandles;

namespace Sluice.Agent.Spool;

public sealed partial class DiskSpool
{
    private void Recover()
    {
        PrivateFiles.EnsureDirectory(_directory, _logger);
        File.Delete(Path.Combine(_directory, SpoolState.FileName + ".tmp"));

        SpoolState? state = null;
        bool stateDamaged = false;
        try
        {
            state = SpoolState.Read(_directory);
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            SpoolLog.StateUnusable(_logger, e);
            stateDamaged = true;
        }
        bool stateKnown = state is not null;
        _ackedThrough = state?.AckedThrough ?? 0;
        _droppedThrough = state?.DroppedThrough ?? 0;
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
        // Event counts told by the headers of entries in the parts cut away: where one of them is
        // among the batches found missing below, its events are known.
        var cutEvents = new Dictionary<ulong, int>();
        byte[] buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            foreach (var (first, path) in files)
            {
                var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
                PrivateFiles.Tighten(handle, path, _logger);
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
                    offset += info.Length;
                }
                if (offset < length)
                {
                    // A torn write (crash mid-append) or damage: keep everything before it.
                    ScanCutPart(handle, offset, length, cutEvents);
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
        // damage on disk: count them as corrupt batches, with their events where a header told them.
        var missing = new List<(ulong From, ulong To)>();
        ulong expected = floor + 1;
        foreach (var segment in _segments)
        {
            foreach (var entry in segment.Entries)
            {
                if (entry.Sequence > expected && (stateKnown || expected > floor + 1))
                {
                    missing.Add((expected, entry.Sequence - 1));
                }
                expected = Math.Max(expected, entry.Sequence + 1);
            }
        }
        if (stateKnown && state!.NextSequence > expected)
        {
            // Batches the state file says were written after the last one now on disk.
            missing.Add((expected, state.NextSequence - 1));
        }
        var corrupt = DeliveryLoss.None;
        foreach (var (from, to) in missing)
        {
            ulong events = 0;
            foreach (var (sequence, count) in cutEvents)
            {
                if (sequence >= from && sequence <= to)
                {
                    events += (ulong)count;
                }
            }
            corrupt += new DeliveryLoss { SpoolCorruptBatches = to - from + 1, SpoolCorruptEvents = events };
            SpoolLog.Gap(_logger, from, to, to - from + 1, events);
        }

        ulong lastOnDisk = _segments.Count > 0 ? _segments[^1].LastSequence : 0;
        _nextSequence = Math.Max(Math.Max(state?.NextSequence ?? 1, lastOnDisk + 1), floor + 1);

        if (state?.Epoch is { } epoch)
        {
            _epoch = epoch;
            _epochStart = state.EpochStartSequence;
        }
        else
        {
            // Batches cut from here on cannot know which sequences the spool used before (the state
            // is gone), or were cut without an epoch (format 1): a new epoch keeps their keys apart.
            StartEpoch();
            if (state is null && !stateDamaged && files.Count == 0)
            {
                SpoolLog.NewSpool(_logger, _directory, _epoch, _epochStart);
            }
            else
            {
                string why = state is not null ? "the spool predates epochs (state format 1)"
                    : stateDamaged ? "the state file was damaged"
                    : "the state file is missing";
                SpoolLog.EpochStarted(_logger, _directory, _epoch, _epochStart, why);
            }
        }

        // Loss recorded before a restart is reported once its carrier batch is on disk (or gone
        // past the floor: acknowledged, or dropped with its report handed on); otherwise it rides
        // on the next batch.
        var pending = DeliveryLoss.None;
        if (state is not null)
        {
            if (!IsCarried(state.CarryingSequence, floor))
            {
                pending += state.Carrying;
            }
            if (!IsCarried(state.PendingCarrier, floor))
            {
                pending += state.Pending;
            }
        }
        _pending = pending + corrupt;
        _corruptBatches += (long)corrupt.SpoolCorruptBatches;
        _corruptEvents += (long)corrupt.SpoolCorruptEvents;

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
        SpoolLog.Opened(_logger, _directory, _depthBatches, _depthBytes, _nextSequence, _ackedThrough, _epoch, _epochStart);
    }

    private bool IsCarried(ulong carrier, ulong floor) => carrier != 0 && (carrier <= floor || IsOnDisk(carrier));

    private bool IsOnDisk(ulong sequence) => TryFindEntry(sequence, out _);

    // Caller holds _lock, or is opening the spool. Finds a published entry, acknowledged or not.
    private bool TryFindEntry(ulong sequence, out EntryInfo info)
    {
        foreach (var segment in _segments)
        {
            if (segment.Entries.Count == 0 || segment.LastSequence < sequence)
            {
                continue;
            }
            int at = segment.Entries.BinarySearch(new EntryInfo(sequence, 0, 0, 0, 0, null), EntrySequenceComparer.Instance);
            info = at >= 0 ? segment.Entries[at] : default;
            return at >= 0;
        }
        info = default;
        return false;
    }

    private sealed class EntrySequenceComparer : IComparer<EntryInfo>
    {
        public static readonly EntrySequenceComparer Instance = new();

        public int Compare(EntryInfo x, EntryInfo y) => x.Sequence.CompareTo(y.Sequence);
    }

    // Walks the headers of a part about to be cut away, for as long as they still parse, and notes
    // the event count each tells. A header whose checksum fails may still tell it; its fields are
    // trusted only for batches that are missing anyway.
    private void ScanCutPart(SafeFileHandle handle, long offset, long length, Dictionary<ulong, int> events)
    {
        Span<byte> header = stackalloc byte[SpoolEntryFormat.MaxHeaderSize];
        while (length - offset >= SpoolEntryFormat.MinHeaderSize)
        {
            int read = RandomAccess.Read(handle, header[..(int)Math.Min(header.Length, length - offset)], offset);
            if (SpoolEntryFormat.TryReadHeader(header[..read], _maxPayload, out var parsed) is not null)
            {
                return;
            }
            events.TryAdd(parsed.Sequence, parsed.EventCount);
            offset += parsed.HeaderLength + (long)parsed.PayloadLength;
        }
    }

    private string? ReadEntryForRecovery(SafeFileHandle handle, long offset, long length, ulong previous, ref byte[] buffer, out EntryInfo info)
    {
        info = default;
        if (length - offset < SpoolEntryFormat.MinHeaderSize)
        {
            return $"header cut short: {length - offset} bytes";
        }
        Span<byte> header = stackalloc byte[SpoolEntryFormat.MaxHeaderSize];
        int read = RandomAccess.Read(handle, header[..(int)Math.Min(header.Length, length - offset)], offset);
        string? reason = SpoolEntryFormat.TryReadHeader(header[..read], _maxPayload, out var parsed);
        if (reason is not null)
        {
            return reason;
        }
        header = header[..parsed.HeaderLength];
        long available = length - offset - parsed.HeaderLength;
        if (parsed.PayloadLength > available)
        {
            return $"payload cut short: {available} of {parsed.PayloadLength} bytes";
        }
        if (buffer.Length < parsed.PayloadLength)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            buffer = ArrayPool<byte>.Shared.Rent(parsed.PayloadLength);
        }
        var payload = buffer.AsSpan(0, parsed.PayloadLength);
        if (RandomAccess.Read(handle, payload, offset + parsed.HeaderLength) != parsed.PayloadLength)
        {
            return "payload cut short while reading";
        }
        if (!SpoolEntryFormat.ChecksumMatches(header, payload))
        {
            return "checksum mismatch";
        }
        if (parsed.Sequence <= previous)
        {
            return $"sequence {parsed.Sequence} does not follow {previous}";
        }
        info = new EntryInfo(parsed.Sequence, offset, parsed.HeaderLength, parsed.PayloadLength, parsed.EventCount, parsed.Carried.IsNone ? null : parsed.Carried);
        return null;
    }
}
