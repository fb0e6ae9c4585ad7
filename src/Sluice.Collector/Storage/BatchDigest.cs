using System.Buffers;
using System.Collections;
using System.IO.Hashing;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Storage;

/// <summary>
/// The content digest of a batch (<c>batches.digest</c>): XxHash128 of the batch's protobuf encoding as this
/// collector writes it (fields in number order, fields it does not know left out), as 32 lowercase hex digits.
/// </summary>
/// <remarks>
/// A resend carries the same content whatever order the agent wrote its fields in, so it has the same
/// digest; another batch under a taken key has another one. The store computes it while it serialises
/// the events for their chunks (<see cref="EncodedChunks"/>): the header is encoded apart, in two parts
/// around the events field, and each event's length-prefixed bytes are hashed where the chunk has them,
/// so nothing is serialised twice. <see cref="Of"/> does the same alone, for a batch that is not stored.
/// </remarks>
internal sealed class BatchDigest
{
    // Field 8, wire type 2 (length-delimited): what precedes each event in the batch's encoding.
    private static readonly byte[] EventTag = [(EventBatch.EventsFieldNumber << 3) | 2];

    private readonly XxHash128 _hash = new();
    private readonly EventBatch _batch;

    /// <summary>Starts the digest of <paramref name="batch"/>: its fields before the events.</summary>
    public BatchDigest(EventBatch batch)
    {
        _batch = batch;
        _hash.Append(Header(batch, beforeEvents: true));
    }

    /// <summary>Adds the next event: its length as a varint followed by its bytes, as a chunk holds it.</summary>
    public void AppendEvent(ReadOnlySpan<byte> lengthAndBytes)
    {
        _hash.Append(EventTag);
        _hash.Append(lengthAndBytes);
    }

    /// <summary>Adds the fields after the events and returns the digest.</summary>
    public string Finish()
    {
        _hash.Append(Header(_batch, beforeEvents: false));
        return Convert.ToHexStringLower(_hash.GetCurrentHash());
    }

    /// <summary>The digest of a batch that is not being stored (a refused one), computed alone.</summary>
    public static string Of(EventBatch batch)
    {
        var digest = new BatchDigest(batch);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(1024);
        try
        {
            foreach (var e in batch.Events)
            {
                int size = e.CalculateSize();
                int length = CodedOutputStream.ComputeLengthSize(size) + size;
                if (buffer.Length < length)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = ArrayPool<byte>.Shared.Rent(length);
                }
                var output = new CodedOutputStream(buffer);
                output.WriteLength(size);
                e.WriteTo(output);
                output.Flush();
                digest.AppendEvent(buffer.AsSpan(0, length));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return digest.Finish();
    }

    /// <summary>The encoding of the batch's fields numbered below (or above) the events field.</summary>
    /// <remarks>Copied field by field through the descriptor, so a field added to EventBatch is covered without a change here.</remarks>
    private static byte[] Header(EventBatch batch, bool beforeEvents)
    {
        var part = new EventBatch();
        foreach (FieldDescriptor field in EventBatch.Descriptor.Fields.InFieldNumberOrder())
        {
            if (field.FieldNumber == EventBatch.EventsFieldNumber || field.FieldNumber < EventBatch.EventsFieldNumber != beforeEvents)
            {
                continue;
            }
            object value = field.Accessor.GetValue(batch);
            if (field.IsRepeated)
            {
                var to = (IList)field.Accessor.GetValue(part);
                foreach (object item in (IList)value)
                {
                    to.Add(item);
                }
            }
            else
            {
                field.Accessor.SetValue(part, value);
            }
        }
        return part.ToByteArray();
    }
}
