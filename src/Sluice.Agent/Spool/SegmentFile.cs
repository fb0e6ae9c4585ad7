using System.Buffers;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace Sluice.Agent.Spool;

/// <summary>
/// One segment file of the spool: <c>NNNNNNNNNNNNNNNNNNNN.seg</c> (the 20-digit sequence of its
/// first entry), 0600, holding checksummed entries (<see cref="SpoolEntryFormat"/>) back to back.
/// It writes an entry at its end, reads one back and checks it, forces itself to disk, cuts a
/// failed write off its end, and, when the spool opens, scans what a crash left
/// (<see cref="Recover"/>).
/// </summary>
/// <remarks>
/// No lock of its own; who may do what is fixed instead. Only the spool's writer
/// (<see cref="SpoolWriter"/>, under its gate) writes, fsyncs or cuts a segment, and only while it
/// is the active one; its <see cref="Length"/> changes then and never after it is sealed. Reads are
/// positional (pread) and only of entries already written. The index (<see cref="SpoolIndex"/>)
/// reads and deletes segments under its lock, so a handle is never closed under a reader.
/// </remarks>
internal sealed class SegmentFile : IDisposable
{
    public const string Extension = ".seg";

    private readonly SafeFileHandle _handle;

    private SegmentFile(string path, SafeFileHandle handle, long length)
    {
        Path = path;
        _handle = handle;
        Length = length;
    }

    public string Path { get; }

    /// <summary>Bytes written, including entries not yet published.</summary>
    public long Length { get; private set; }

    /// <summary>The file name of the segment whose first entry is <paramref name="firstSequence"/>.</summary>
    public static string FileName(ulong firstSequence) => firstSequence.ToString("D20", CultureInfo.InvariantCulture) + Extension;

    /// <summary>The first sequence a segment file's name tells, or false when the name is not a segment's.</summary>
    public static bool TryParseName(string path, out ulong firstSequence)
    {
        string stem = System.IO.Path.GetFileNameWithoutExtension(path);
        firstSequence = 0;
        return stem.Length == 20 && ulong.TryParse(stem, NumberStyles.None, CultureInfo.InvariantCulture, out firstSequence);
    }

    /// <summary>Creates the (new, 0600) segment whose first entry will be <paramref name="firstSequence"/>; with <paramref name="syncDirectory"/>, fsyncs the directory so that its name survives a power loss.</summary>
    public static SegmentFile Create(string directory, ulong firstSequence, bool syncDirectory)
    {
        string path = System.IO.Path.Combine(directory, FileName(firstSequence));
        var handle = PrivateFiles.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read);
        if (syncDirectory)
        {
            DirectorySync.Flush(directory);
        }
        return new SegmentFile(path, handle, 0);
    }

    /// <summary>Writes one entry at the end: <paramref name="head"/>, then <paramref name="tail"/> (may be empty), with one (vectored) write.</summary>
    public void Write(ReadOnlyMemory<byte> head, ReadOnlyMemory<byte> tail)
    {
        long offset = Length;
        if (tail.IsEmpty)
        {
            RandomAccess.Write(_handle, head.Span, offset);
        }
        else
        {
            RandomAccess.Write(_handle, [head, tail], offset);
        }
        Length = offset + head.Length + tail.Length;
    }

    /// <summary>fsync: what is written reaches stable storage.</summary>
    public void Flush() => RandomAccess.FlushToDisk(_handle);

    /// <summary>After a failed write: cuts whatever part of the entry reached the file, so the next write follows a whole entry.</summary>
    public void CutBack(long length)
    {
        Length = length;
        try
        {
            RandomAccess.SetLength(_handle, length);
        }
        catch (IOException)
        {
            // Recovery cuts it at the next open; the entry is not published either way.
        }
    }

    /// <summary>
    /// Reads <paramref name="entry"/> and checks its header against the index and its checksum.
    /// Returns it in a buffer rented for the caller (see <see cref="SpoolEntry"/>), or null when it
    /// does not check out.
    /// </summary>
    public SpoolEntry? TryRead(in IndexEntry entry, int maxPayload)
    {
        int total = entry.Length;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(total);
        var span = buffer.AsSpan(0, total);
        int read = RandomAccess.Read(_handle, span, entry.Offset);
        if (read == total
            && SpoolEntryFormat.TryReadHeader(span, maxPayload, out var header) is null
            && header.HeaderLength == entry.HeaderLength
            && header.PayloadLength == entry.PayloadLength
            && header.Sequence == entry.Sequence
            && SpoolEntryFormat.ChecksumMatches(span[..entry.HeaderLength], span.Slice(entry.HeaderLength, entry.PayloadLength)))
        {
            return new SpoolEntry(entry.Sequence, entry.EventCount, buffer, entry.HeaderLength, entry.PayloadLength);
        }
        ArrayPool<byte>.Shared.Return(buffer);
        return null;
    }

    /// <summary>Closes the handle and deletes the file.</summary>
    public void Delete()
    {
        _handle.Dispose();
        File.Delete(Path);
    }

    /// <summary>Closes the handle.</summary>
    public void Dispose() => _handle.Dispose();

    /// <summary>
    /// Opens an existing segment when the spool opens and reads its entries in order into
    /// <paramref name="entries"/>, each checked: framing, checksum, and a sequence after the last
    /// one <paramref name="scan"/> found. At the first that fails (a write torn by a crash, or
    /// damage) the file is cut and fsynced there, and everything before it kept; the event counts
    /// that headers in the cut part still tell go into <paramref name="scan"/>. Returns null, and
    /// deletes the file, when no entry is left.
    /// </summary>
    public static SegmentFile? Recover(string path, RecoveryScan scan, List<IndexEntry> entries)
    {
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
        PrivateFiles.Tighten(handle, path, scan.Logger);
        long length = RandomAccess.GetLength(handle);
        long offset = 0;
        string? reason = null;
        while (offset < length)
        {
            reason = ReadEntryForRecovery(handle, offset, length, scan, out var entry);
            if (reason is not null)
            {
                break;
            }
            entries.Add(entry);
            scan.Previous = entry.Sequence;
            offset += entry.Length;
        }
        if (offset < length)
        {
            // A torn write (crash mid-append) or damage: keep everything before it.
            ScanCutPart(handle, offset, length, scan);
            RandomAccess.SetLength(handle, offset);
            RandomAccess.FlushToDisk(handle);
            scan.CutBytes += length - offset;
            SpoolLog.TailCut(scan.Logger, path, length - offset, offset, reason!, entries.Count);
        }
        if (entries.Count == 0)
        {
            handle.Dispose();
            File.Delete(path);
            return null;
        }
        return new SegmentFile(path, handle, offset);
    }

    // Walks the headers of a part about to be cut away, for as long as they still parse, and notes
    // the event count each tells. A header whose checksum fails may still tell it; its fields are
    // trusted only for batches that are missing anyway.
    private static void ScanCutPart(SafeFileHandle handle, long offset, long length, RecoveryScan scan)
    {
        Span<byte> header = stackalloc byte[SpoolEntryFormat.MaxHeaderSize];
        while (length - offset >= SpoolEntryFormat.MinHeaderSize)
        {
            int read = RandomAccess.Read(handle, header[..(int)Math.Min(header.Length, length - offset)], offset);
            if (SpoolEntryFormat.TryReadHeader(header[..read], scan.MaxPayload, out var parsed) is not null)
            {
                return;
            }
            scan.CutEvents.TryAdd(parsed.Sequence, parsed.EventCount);
            offset += parsed.HeaderLength + (long)parsed.PayloadLength;
        }
    }

    private static string? ReadEntryForRecovery(SafeFileHandle handle, long offset, long length, RecoveryScan scan, out IndexEntry entry)
    {
        entry = default;
        if (length - offset < SpoolEntryFormat.MinHeaderSize)
        {
            return $"header cut short: {length - offset} bytes";
        }
        Span<byte> header = stackalloc byte[SpoolEntryFormat.MaxHeaderSize];
        int read = RandomAccess.Read(handle, header[..(int)Math.Min(header.Length, length - offset)], offset);
        string? reason = SpoolEntryFormat.TryReadHeader(header[..read], scan.MaxPayload, out var parsed);
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
        var payload = scan.PayloadBuffer(parsed.PayloadLength);
        if (RandomAccess.Read(handle, payload, offset + parsed.HeaderLength) != parsed.PayloadLength)
        {
            return "payload cut short while reading";
        }
        if (!SpoolEntryFormat.ChecksumMatches(header, payload))
        {
            return "checksum mismatch";
        }
        if (parsed.Sequence <= scan.Previous)
        {
            return $"sequence {parsed.Sequence} does not follow {scan.Previous}";
        }
        entry = new IndexEntry(parsed.Sequence, offset, parsed.HeaderLength, parsed.PayloadLength, parsed.EventCount, parsed.Carried.IsNone ? null : parsed.Carried);
        return null;
    }
}

/// <summary>What the scan of the segments at open carries from one segment file to the next (<see cref="SegmentFile.Recover"/>).</summary>
internal sealed class RecoveryScan(int maxPayload, ILogger logger) : IDisposable
{
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);

    public int MaxPayload { get; } = maxPayload;

    public ILogger Logger { get; } = logger;

    /// <summary>The sequence of the last entry found intact: the next must come after it.</summary>
    public ulong Previous { get; set; }

    /// <summary>Event counts told by the headers of entries in the parts cut away, by sequence: where one of them is among the batches found missing, its events are known.</summary>
    public Dictionary<ulong, int> CutEvents { get; } = [];

    /// <summary>Bytes cut from torn or damaged segment ends.</summary>
    public long CutBytes { get; set; }

    /// <summary>A buffer for one payload, rented once and grown as needed.</summary>
    public Span<byte> PayloadBuffer(int length)
    {
        if (_buffer.Length < length)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = ArrayPool<byte>.Shared.Rent(length);
        }
        return _buffer.AsSpan(0, length);
    }

    public void Dispose() => ArrayPool<byte>.Shared.Return(_buffer);
}
