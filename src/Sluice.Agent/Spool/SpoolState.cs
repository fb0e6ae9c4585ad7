using System.Buffers.Binary;
using System.IO.Hashing;

namespace Sluice.Agent.Spool;

/// <summary>
/// What the spool must remember across restarts besides the segments themselves. Written
/// atomically (temp file, fsync, rename, fsync of the directory).
/// </summary>
/// <param name="NextSequence">The sequence the next appended batch gets; never goes back.</param>
/// <param name="AckedThrough">Every batch up to here is acknowledged by the collector.</param>
/// <param name="DroppedThrough">Every batch up to here that was not acknowledged was dropped by the cap.</param>
/// <param name="PendingDroppedEvents">Dropped events not yet carried to the collector in a batch's loss counters.</param>
/// <param name="PendingDroppedBatches">Dropped batches not yet carried to the collector.</param>
/// <param name="PendingCarrierSequence">The batch that carries the pending drop; once it is on disk, the drop is reported.</param>
internal readonly record struct SpoolState(
    ulong NextSequence,
    ulong AckedThrough,
    ulong DroppedThrough,
    ulong PendingDroppedEvents,
    ulong PendingDroppedBatches,
    ulong PendingCarrierSequence)
{
    public const string FileName = "spool.state";
    private const uint Magic = 0x31534C53; // "SLS1"
    private const uint Version = 1;
    private const int Size = 64;

    public static SpoolState Initial => new(1, 0, 0, 0, 0, 0);

    /// <summary>Reads the state file; null when it is absent. Throws <see cref="InvalidDataException"/> naming the file when it is damaged.</summary>
    public static SpoolState? Read(string directory)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
        {
            return null;
        }
        byte[] bytes = File.ReadAllBytes(path);
        ReadOnlySpan<byte> b = bytes;
        if (b.Length != Size
            || BinaryPrimitives.ReadUInt32LittleEndian(b) != Magic
            || BinaryPrimitives.ReadUInt32LittleEndian(b[4..]) != Version
            || BinaryPrimitives.ReadUInt64LittleEndian(b[56..]) != XxHash3.HashToUInt64(b[..56]))
        {
            throw new InvalidDataException($"spool state file {path} is damaged ({b.Length} bytes, expected {Size} with magic, version 1 and a matching checksum)");
        }
        return new SpoolState(
            BinaryPrimitives.ReadUInt64LittleEndian(b[8..]),
            BinaryPrimitives.ReadUInt64LittleEndian(b[16..]),
            BinaryPrimitives.ReadUInt64LittleEndian(b[24..]),
            BinaryPrimitives.ReadUInt64LittleEndian(b[32..]),
            BinaryPrimitives.ReadUInt64LittleEndian(b[40..]),
            BinaryPrimitives.ReadUInt64LittleEndian(b[48..]));
    }

    public void Write(string directory)
    {
        Span<byte> b = stackalloc byte[Size];
        BinaryPrimitives.WriteUInt32LittleEndian(b, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(b[4..], Version);
        BinaryPrimitives.WriteUInt64LittleEndian(b[8..], NextSequence);
        BinaryPrimitives.WriteUInt64LittleEndian(b[16..], AckedThrough);
        BinaryPrimitives.WriteUInt64LittleEndian(b[24..], DroppedThrough);
        BinaryPrimitives.WriteUInt64LittleEndian(b[32..], PendingDroppedEvents);
        BinaryPrimitives.WriteUInt64LittleEndian(b[40..], PendingDroppedBatches);
        BinaryPrimitives.WriteUInt64LittleEndian(b[48..], PendingCarrierSequence);
        BinaryPrimitives.WriteUInt64LittleEndian(b[56..], XxHash3.HashToUInt64(b[..56]));

        string path = Path.Combine(directory, FileName);
        string temp = path + ".tmp";
        using (var handle = File.OpenHandle(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            RandomAccess.Write(handle, b, 0);
            RandomAccess.FlushToDisk(handle);
        }
        File.Move(temp, path, overwrite: true);
        DirectorySync.Flush(directory);
    }
}
