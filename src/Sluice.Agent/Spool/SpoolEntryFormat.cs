using System.Buffers.Binary;
using System.IO.Hashing;

namespace Sluice.Agent.Spool;

/// <summary>
/// Layout of one spool entry. All integers little-endian. Entries are written in format 2:
/// <code>
///  0 u32 magic "SLB2"
///  4 u32 payload length
///  8 u64 batch sequence
/// 16 u32 event count
/// 20 u32 reserved, 0
/// 24 8×u64 delivery loss this batch reports (DeliveryLoss, in LossCounters order): spool dropped
///          batches, events; quarantined batches, events; quarantine trimmed batches, events;
///          spool corrupt batches, events
/// 88 u64 XxHash3 of bytes 0..88 followed by the payload
/// 96 payload: one serialized sluice.v1.EventBatch
/// </code>
/// Format 1 ("SLB1", written before the spool had epochs) is read as well: the same up to byte 24,
/// then only the spool dropped batches and events (24, 32), the checksum at 40 and the payload at 48.
/// The sequence, event count and carried loss sit in the header so that recovery, acknowledgement
/// and drop accounting never have to parse a payload. The carried loss matters when a batch that
/// reports a loss is itself lost: its report moves on to the next batch.
/// </summary>
internal static class SpoolEntryFormat
{
    /// <summary>Header size of the entries this version writes.</summary>
    public const int HeaderSize = 96;

    /// <summary>The largest header of any format read.</summary>
    public const int MaxHeaderSize = HeaderSize;

    /// <summary>The smallest header of any format read.</summary>
    public const int MinHeaderSize = V1HeaderSize;

    public const uint Magic = 0x32424C53; // "SLB2" read as little-endian bytes
    public const uint MagicV1 = 0x31424C53; // "SLB1"

    private const int ChecksumOffset = 88;
    private const int V1HeaderSize = 48;
    private const int V1ChecksumOffset = 40;

    /// <summary>Writes the header of an entry whose payload is the rest of <paramref name="entry"/> followed by <paramref name="payloadTail"/>.</summary>
    public static void WriteHeader(Span<byte> entry, ReadOnlySpan<byte> payloadTail, int payloadLength, ulong sequence, int eventCount, DeliveryLoss carried)
    {
        if (entry.Length - HeaderSize + payloadTail.Length != payloadLength)
        {
            throw new ArgumentException($"payload of {entry.Length - HeaderSize} + {payloadTail.Length} bytes, not {payloadLength}", nameof(payloadLength));
        }
        BinaryPrimitives.WriteUInt32LittleEndian(entry, Magic);
        BinaryPrimitives.WriteInt32LittleEndian(entry[4..], payloadLength);
        BinaryPrimitives.WriteUInt64LittleEndian(entry[8..], sequence);
        BinaryPrimitives.WriteInt32LittleEndian(entry[16..], eventCount);
        BinaryPrimitives.WriteUInt32LittleEndian(entry[20..], 0);
        carried.Write(entry[24..ChecksumOffset]);
        BinaryPrimitives.WriteUInt64LittleEndian(entry[ChecksumOffset..], Checksum(entry[..ChecksumOffset], entry[HeaderSize..], payloadTail));
    }

    public static ulong Checksum(ReadOnlySpan<byte> headerPrefix, ReadOnlySpan<byte> payload, ReadOnlySpan<byte> payloadTail = default)
    {
        var hash = new XxHash3();
        hash.Append(headerPrefix);
        hash.Append(payload);
        hash.Append(payloadTail);
        return hash.GetCurrentHashAsUInt64();
    }

    /// <summary>The header size of the entry that starts with <paramref name="start"/> (at least 4 bytes), or 0 when the magic is no format's.</summary>
    public static int HeaderSizeOf(ReadOnlySpan<byte> start) => BinaryPrimitives.ReadUInt32LittleEndian(start) switch
    {
        Magic => HeaderSize,
        MagicV1 => V1HeaderSize,
        _ => 0,
    };

    /// <summary>A parsed header: the fields every format has, and the loss its batch carries.</summary>
    public readonly record struct Header(int HeaderLength, int PayloadLength, ulong Sequence, int EventCount, DeliveryLoss Carried);

    /// <summary>Parses a header (of either format) without checking the payload. Returns why it is unusable, or null.</summary>
    public static string? TryReadHeader(ReadOnlySpan<byte> header, int maxPayload, out Header parsed)
    {
        parsed = default;
        if (header.Length < 4)
        {
            return "header cut short";
        }
        int size = HeaderSizeOf(header);
        if (size == 0)
        {
            return "bad magic";
        }
        if (header.Length < size)
        {
            return "header cut short";
        }
        int payloadLength = BinaryPrimitives.ReadInt32LittleEndian(header[4..]);
        ulong sequence = BinaryPrimitives.ReadUInt64LittleEndian(header[8..]);
        int eventCount = BinaryPrimitives.ReadInt32LittleEndian(header[16..]);
        var carried = size == HeaderSize
            ? DeliveryLoss.Read(header[24..ChecksumOffset])
            : DeliveryLoss.From(new Sluice.Protocol.V1.LossCounters
            {
                SpoolDroppedBatches = BinaryPrimitives.ReadUInt64LittleEndian(header[24..]),
                SpoolDroppedEvents = BinaryPrimitives.ReadUInt64LittleEndian(header[32..]),
            });
        parsed = new Header(size, payloadLength, sequence, eventCount, carried);
        if (payloadLength < 0 || payloadLength > maxPayload)
        {
            return $"payload length {payloadLength} outside 0..{maxPayload}";
        }
        if (eventCount < 0)
        {
            return $"negative event count {eventCount}";
        }
        return null;
    }

    /// <summary>True when the stored checksum matches the header prefix and the payload (<paramref name="header"/> is exactly one header).</summary>
    public static bool ChecksumMatches(ReadOnlySpan<byte> header, ReadOnlySpan<byte> payload)
    {
        int at = header.Length == HeaderSize ? ChecksumOffset : V1ChecksumOffset;
        return BinaryPrimitives.ReadUInt64LittleEndian(header[at..]) == Checksum(header[..at], payload);
    }
}
