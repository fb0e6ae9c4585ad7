using System.Buffers;
using System.IO.Compression;
using Google.Protobuf;
using Google.Protobuf.Collections;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Storage;

/// <summary>
/// How events' exact copies (their protobuf bytes) are kept: compressed together, a run of
/// <see cref="EventsPerChunk"/> consecutive events of a batch per row of <c>event_chunks</c>.
/// </summary>
/// <remarks>
/// <para>
/// The events table keeps one row per event with the search columns, and an empty <c>payload</c>
/// for an event whose bytes are in a chunk: row <c>(batch_id, ordinal / EventsPerChunk)</c> of
/// <c>event_chunks</c>. (Stores of schema 4 and older have each event's bytes in <c>payload</c>;
/// those rows are read as they are.) Audit records repeat their field names and most of their
/// values from one event to the next, so a chunk compresses several times better than any single
/// event could, and each event row shrinks from hundreds of bytes to its search columns. That is
/// the largest part of a store's write cost per event.
/// </para>
/// <para>
/// A chunk is one format byte (<see cref="DeflateFormat"/>) followed by a raw deflate stream of,
/// for each event in order, its length as a protobuf varint and its bytes: the encoding of a
/// <c>repeated Event</c> field without the tags. The chunk size is part of the schema: changing it
/// needs a new schema version.
/// </para>
/// </remarks>
internal static class EventChunks
{
    public const int EventsPerChunk = 64;

    /// <summary>The only format so far: raw deflate (RFC 1951) of varint-length-prefixed events.</summary>
    public const byte DeflateFormat = 1;

    public static int ChunkOf(long ordinal) => checked((int)(ordinal / EventsPerChunk));

    public static int IndexInChunk(long ordinal) => (int)(ordinal % EventsPerChunk);

    public static int CountFor(int events) => (events + EventsPerChunk - 1) / EventsPerChunk;

    /// <summary>Decompresses one chunk and finds its events.</summary>
    /// <exception cref="InvalidDataException">The chunk is not one this collector can read; the message says which.</exception>
    public static DecodedChunk Decode(byte[] data, long batchId, int chunk)
    {
        if (data.Length == 0 || data[0] != DeflateFormat)
        {
            throw new InvalidDataException(
                $"event chunk {chunk} of batch {batchId} has format {(data.Length == 0 ? "(empty)" : data[0].ToString(System.Globalization.CultureInfo.InvariantCulture))}; this collector reads format {DeflateFormat} only");
        }
        byte[] plain;
        int length = 0;
        try
        {
            using var inflate = new DeflateStream(new MemoryStream(data, 1, data.Length - 1, writable: false), CompressionMode.Decompress);
            plain = new byte[Math.Max(data.Length * 8, 4096)];
            int read;
            while ((read = inflate.Read(plain, length, plain.Length - length)) > 0)
            {
                length += read;
                if (length == plain.Length)
                {
                    Array.Resize(ref plain, plain.Length * 2);
                }
            }
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"event chunk {chunk} of batch {batchId} is corrupt: {e.Message}", e);
        }
        var starts = new List<int>(EventsPerChunk);
        var lengths = new List<int>(EventsPerChunk);
        int at = 0;
        while (at < length)
        {
            uint size = 0;
            int shift = 0;
            byte b;
            do
            {
                if (at >= length || shift > 28)
                {
                    throw new InvalidDataException($"event chunk {chunk} of batch {batchId} is corrupt: a length is cut off at byte {at}");
                }
                b = plain[at++];
                size |= (uint)(b & 0x7f) << shift;
                shift += 7;
            }
            while ((b & 0x80) != 0);
            if (size > length - at)
            {
                throw new InvalidDataException($"event chunk {chunk} of batch {batchId} is corrupt: event {starts.Count} claims {size} bytes, {length - at} remain");
            }
            starts.Add(at);
            lengths.Add((int)size);
            at += (int)size;
        }
        return new DecodedChunk(plain, [.. starts], [.. lengths], batchId, chunk);
    }
}

/// <summary>One decompressed chunk: its events' bytes.</summary>
internal sealed class DecodedChunk(byte[] plain, int[] starts, int[] lengths, long batchId, int chunk)
{
    public int Count => starts.Length;

    /// <summary>Bytes held, for the reader's cache bound.</summary>
    public int Size => plain.Length;

    public Event Event(int indexInChunk)
    {
        if ((uint)indexInChunk >= (uint)starts.Length)
        {
            throw new InvalidDataException($"event chunk {chunk} of batch {batchId} holds {starts.Length} events; event {indexInChunk} of it is missing");
        }
        return Sluice.Protocol.V1.Event.Parser.ParseFrom(plain.AsSpan(starts[indexInChunk], lengths[indexInChunk]));
    }
}

/// <summary>
/// A batch's events serialised and compressed into chunks (<see cref="EventChunks"/>), all in one
/// buffer, on the thread that received the batch: a store's writer then only copies the bytes.
/// </summary>
internal sealed class EncodedChunks : IDisposable
{
    private byte[] _buffer;
    private readonly int[] _ends;

    private EncodedChunks(byte[] buffer, int[] ends)
    {
        _buffer = buffer;
        _ends = ends;
    }

    /// <summary>Number of chunks.</summary>
    public int Count => _ends.Length;

    public ReadOnlyMemory<byte> this[int chunk]
    {
        get
        {
            int start = chunk == 0 ? 0 : _ends[chunk - 1];
            return _buffer.AsMemory(start, _ends[chunk] - start);
        }
    }

    /// <param name="digest">Given the bytes of each event, in order, as they are serialised (the batch's digest is computed on the way).</param>
    public static EncodedChunks From(RepeatedField<Event> events, BatchDigest? digest = null)
    {
        int count = EventChunks.CountFor(events.Count);
        var ends = new int[count];
        var sizes = new int[events.Count];
        int largest = 0;
        for (int c = 0; c < count; c++)
        {
            int plain = 0;
            for (int i = c * EventChunks.EventsPerChunk; i < Math.Min(events.Count, (c + 1) * EventChunks.EventsPerChunk); i++)
            {
                sizes[i] = events[i].CalculateSize();
                plain += CodedOutputStream.ComputeLengthSize(sizes[i]) + sizes[i];
            }
            largest = Math.Max(largest, plain);
        }
        byte[] scratch = ArrayPool<byte>.Shared.Rent(Math.Max(largest, 1));
        var output = new PooledOutput(Math.Max(largest / 2, 1024));
        try
        {
            for (int c = 0; c < count; c++)
            {
                int used = 0;
                for (int i = c * EventChunks.EventsPerChunk; i < Math.Min(events.Count, (c + 1) * EventChunks.EventsPerChunk); i++)
                {
                    int start = used;
                    used += WriteVarint(scratch.AsSpan(used), (uint)sizes[i]);
                    events[i].WriteTo(scratch.AsSpan(used, sizes[i]));
                    used += sizes[i];
                    digest?.AppendEvent(scratch.AsSpan(start, used - start));
                }
                output.WriteByte(EventChunks.DeflateFormat);
                using (var deflate = new DeflateStream(output, CompressionLevel.Fastest, leaveOpen: true))
                {
                    deflate.Write(scratch, 0, used);
                }
                ends[c] = output.Used;
            }
            return new EncodedChunks(output.Detach(), ends);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
            output.Dispose();
        }
    }

    private static int WriteVarint(Span<byte> to, uint value)
    {
        int n = 0;
        while (value >= 0x80)
        {
            to[n++] = (byte)(value | 0x80);
            value >>= 7;
        }
        to[n++] = (byte)value;
        return n;
    }

    public void Dispose()
    {
        var buffer = Interlocked.Exchange(ref _buffer, []);
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>A write-only stream into a growing pooled array, for the deflate output.</summary>
    private sealed class PooledOutput(int initial) : Stream
    {
        private byte[] _buffer = ArrayPool<byte>.Shared.Rent(initial);

        public int Used { get; private set; }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => Used;
        public override long Position { get => Used; set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> data)
        {
            if (_buffer.Length - Used < data.Length)
            {
                var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, Used + data.Length));
                _buffer.AsSpan(0, Used).CopyTo(larger);
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = larger;
            }
            data.CopyTo(_buffer.AsSpan(Used));
            Used += data.Length;
        }

        public override void WriteByte(byte value) => Write([value]);

        /// <summary>The buffer, now owned by the caller (to return to the pool).</summary>
        public byte[] Detach()
        {
            var buffer = _buffer;
            _buffer = [];
            return buffer;
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            var buffer = Interlocked.Exchange(ref _buffer, []);
            if (buffer.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
            base.Dispose(disposing);
        }
    }
}
