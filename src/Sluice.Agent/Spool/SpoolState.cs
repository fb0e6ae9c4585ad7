using System.Buffers.Binary;
using System.IO.Hashing;
using System.Security.Cryptography;

namespace Sluice.Agent.Spool;

/// <summary>
/// What the spool must remember across restarts besides the segments themselves. Written
/// atomically (new 0600 temp file, fsync, rename, fsync of the directory).
/// </summary>
/// <param name="NextSequence">The sequence the next appended batch gets; never goes back.</param>
/// <param name="AckedThrough">Every batch up to here is acknowledged by the collector (or set aside in quarantine).</param>
/// <param name="DroppedThrough">Every batch up to here that was not acknowledged was dropped by the cap.</param>
/// <param name="Epoch">The spool's epoch (32 lowercase hex digits), or null when the file predates epochs (format 1).</param>
/// <param name="EpochStartSequence">The first sequence cut under <paramref name="Epoch"/>.</param>
/// <param name="Pending">Loss not yet carried to the collector in a batch's loss counters.</param>
/// <param name="PendingCarrier">The batch that carries <paramref name="Pending"/>; once it is on disk (or acknowledged), the loss is reported.</param>
/// <param name="Carrying">Loss taken by an append under way when the file was written.</param>
/// <param name="CarryingSequence">The batch of that append: once it is on disk, <paramref name="Carrying"/> is reported.</param>
/// <remarks>
/// Format 2, 208 bytes, integers little-endian:
/// <code>
///   0 u32 magic "SLS1"      4 u32 version 2
///   8 u64 next sequence    16 u64 acked through     24 u64 dropped through
///  32 16 bytes epoch       48 u64 epoch start sequence
///  56 8×u64 pending loss (DeliveryLoss)             120 u64 pending carrier
/// 128 8×u64 carrying loss                           192 u64 carrying sequence
/// 200 u64 XxHash3 of bytes 0..200
/// </code>
/// Format 1 (64 bytes: the three sequences, pending spool-dropped events and batches, their
/// carrier, the checksum at 56) is read too; its spool has no epoch yet, so the opener mints one.
/// </remarks>
internal sealed record SpoolState(
    ulong NextSequence,
    ulong AckedThrough,
    ulong DroppedThrough,
    string? Epoch,
    ulong EpochStartSequence,
    DeliveryLoss Pending,
    ulong PendingCarrier,
    DeliveryLoss Carrying,
    ulong CarryingSequence)
{
    public const string FileName = "spool.state";
    private const uint Magic = 0x31534C53; // "SLS1"
    private const uint Version = 2;
    private const int Size = 208;
    private const int V1Size = 64;
    private const int EpochBytes = 16;

    /// <summary>A new random epoch: 16 bytes from the system's CSPRNG, as 32 lowercase hex digits.</summary>
    public static string NewEpoch() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(EpochBytes));

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
        uint version = b.Length >= 8 && BinaryPrimitives.ReadUInt32LittleEndian(b) == Magic ? BinaryPrimitives.ReadUInt32LittleEndian(b[4..]) : 0;
        if (version == Version && b.Length == Size && BinaryPrimitives.ReadUInt64LittleEndian(b[200..]) == XxHash3.HashToUInt64(b[..200]))
        {
            return new SpoolState(
                BinaryPrimitives.ReadUInt64LittleEndian(b[8..]),
                BinaryPrimitives.ReadUInt64LittleEndian(b[16..]),
                BinaryPrimitives.ReadUInt64LittleEndian(b[24..]),
                Convert.ToHexStringLower(b.Slice(32, EpochBytes)),
                BinaryPrimitives.ReadUInt64LittleEndian(b[48..]),
                DeliveryLoss.Read(b[56..120]),
                BinaryPrimitives.ReadUInt64LittleEndian(b[120..]),
                DeliveryLoss.Read(b[128..192]),
                BinaryPrimitives.ReadUInt64LittleEndian(b[192..]));
        }
        if (version == 1 && b.Length == V1Size && BinaryPrimitives.ReadUInt64LittleEndian(b[56..]) == XxHash3.HashToUInt64(b[..56]))
        {
            var pending = new DeliveryLoss
            {
                SpoolDroppedEvents = BinaryPrimitives.ReadUInt64LittleEndian(b[32..]),
                SpoolDroppedBatches = BinaryPrimitives.ReadUInt64LittleEndian(b[40..]),
            };
            return new SpoolState(
                BinaryPrimitives.ReadUInt64LittleEndian(b[8..]),
                BinaryPrimitives.ReadUInt64LittleEndian(b[16..]),
                BinaryPrimitives.ReadUInt64LittleEndian(b[24..]),
                Epoch: null,
                EpochStartSequence: 0,
                pending.IsNone ? DeliveryLoss.None : pending,
                BinaryPrimitives.ReadUInt64LittleEndian(b[48..]),
                DeliveryLoss.None,
                0);
        }
        throw new InvalidDataException($"spool state file {path} is damaged ({b.Length} bytes, expected {Size} with magic, version {Version} and a matching checksum, or {V1Size} of version 1)");
    }

    public void Write(string directory)
    {
        if (Epoch is null || Epoch.Length != 2 * EpochBytes)
        {
            throw new InvalidOperationException($"a spool state is written with an epoch of {2 * EpochBytes} hex digits, not '{Epoch}'");
        }
        Span<byte> b = stackalloc byte[Size];
        BinaryPrimitives.WriteUInt32LittleEndian(b, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(b[4..], Version);
        BinaryPrimitives.WriteUInt64LittleEndian(b[8..], NextSequence);
        BinaryPrimitives.WriteUInt64LittleEndian(b[16..], AckedThrough);
        BinaryPrimitives.WriteUInt64LittleEndian(b[24..], DroppedThrough);
        if (Convert.FromHexString(Epoch, b.Slice(32, EpochBytes), out _, out int written) != System.Buffers.OperationStatus.Done || written != EpochBytes)
        {
            throw new InvalidOperationException($"the spool epoch '{Epoch}' is not {2 * EpochBytes} hex digits");
        }
        BinaryPrimitives.WriteUInt64LittleEndian(b[48..], EpochStartSequence);
        Pending.Write(b[56..120]);
        BinaryPrimitives.WriteUInt64LittleEndian(b[120..], PendingCarrier);
        Carrying.Write(b[128..192]);
        BinaryPrimitives.WriteUInt64LittleEndian(b[192..], CarryingSequence);
        BinaryPrimitives.WriteUInt64LittleEndian(b[200..], XxHash3.HashToUInt64(b[..200]));
        PrivateFiles.WriteAtomically(Path.Combine(directory, FileName), b);
    }
}
