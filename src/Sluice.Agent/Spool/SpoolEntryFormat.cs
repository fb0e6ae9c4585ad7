using System.Buffers.Binary;
using System.IO.Hashing;

namespace Sluice.Agent.Spool;

/// <summary>
/// Layout of one spool entry. All integers little-endian.
/// <code>
///  0 u32 magic "SLB1"
///  4 u32 payload length
///  8 u64 batch sequence
/// 16 u32 event count
/// 20 u32 reserved, 0
/// 24 u64 spool-dropped batches this batch reports (its LossCounters.spool_dropped_batches)
/// 32 u64 spool-dropped events this batch reports
/// 40 u64 XxHash3 of bytes 0..40 followed by the payload
/// 48 payload: one serialized sluice.v1.EventBatch
/// </code>
/// The sequence, event count and carried drop counts sit in the header so that recovery,
/// acknowledgement and drop accounting never have to parse a payload. The carried counts matter
/// when a batch that reports a drop is itself dropped: its report moves on to the next batch.
/// </summary>
internal static class SpoolEntryFormat
{
    public const int HeaderSize = 48;
    private const int ChecksumOffset = 40;
    public const uint Magic = 0x31424C53; // "SLB1" read as little-endian bytes

    /// <summary>Writes the header of an entry whose payload is the rest of <paramref name="entry"/> followed by <paramref name="payloadTail"/>.</summary>
    public static void WriteHeader(Span<byte> entry, ReadOnlySpan<byte> payloadTail, int payloadLength, ulong sequence, int eventCount, ulong carriedBatches, ulong carriedEvents)
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
        BinaryPrimitives.WriteUInt64LittleEndian(entry[24..], carriedBatches);
        BinaryPrimitives.WriteUInt64LittleEndian(entry[32..], carriedEvents);
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

    /// <summary>Parses a header without checking the payload. Returns why it is unusable, or null.</summary>
    public static string? TryReadHeader(ReadOnlySpan<byte> header, int maxPayload, out int payloadLength, out ulong sequence, out int eventCount, out ulong carriedBatches, out ulong carriedEvents)
    {
        payloadLength = 0;
        sequence = 0;
        eventCount = 0;
        carriedBatches = 0;
        carriedEvents = 0;
        if (header.Length < HeaderSize)
        {
            return "header cut short";
        }
        if (BinaryPrimitives.ReadUInt32LittleEndian(header) != Magic)
        {
            return "bad magic";
        }
        payloadLength = BinaryPrimitives.ReadInt32LittleEndian(header[4..]);
        sequence = BinaryPrimitives.ReadUInt64LittleEndian(header[8..]);
        eventCount = BinaryPrimitives.ReadInt32LittleEndian(header[16..]);
        carriedBatches = BinaryPrimitives.ReadUInt64LittleEndian(header[24..]);
        carriedEvents = BinaryPrimitives.ReadUInt64LittleEndian(header[32..]);
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

    /// <summary>True when the stored checksum matches the header prefix and the payload.</summary>
    public static bool ChecksumMatches(ReadOnlySpan<byte> header, ReadOnlySpan<byte> payload)
        => BinaryPrimitives.ReadUInt64LittleEndian(header[ChecksumOffset..]) == Checksum(header[..ChecksumOffset], payload);
}
