using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Sluice.Collector.Storage.Postgres;

/// <summary>
/// Rows in PostgreSQL's binary COPY format, a batch's or those of several batches one after another, written
/// straight into one pooled buffer and sent through <c>BeginRawBinaryCopy</c>.
/// </summary>
/// <remarks>
/// Npgsql's row-by-row importer costs about 100 ns per value (an async state machine and a type
/// lookup each), and an event row has 24 values (<see cref="EventColumns"/>). Here the texts are the UTF-8 that
/// <see cref="EncodedRows"/> already holds, the same bytes the importer would have sent, and the
/// numbers are written big-endian in place. The format: the 11-byte signature, flags and header
/// extension length (0), then per row the field count and each field as its length (-1 for NULL)
/// and bytes, then -1.
/// </remarks>
internal sealed class BinaryCopy : IDisposable
{
    private byte[] _buffer;
    private int _used;

    private BinaryCopy(int capacity)
    {
        _buffer = ArrayPool<byte>.Shared.Rent(capacity);
        WriteHeader();
    }

    public ReadOnlyMemory<byte> Bytes => _buffer.AsMemory(0, _used);

    /// <summary>The events table's rows (<see cref="EventColumns"/>, in order) of a batch.</summary>
    public static BinaryCopy Events(EncodedRows rows, long batchId, long agent)
    {
        var copy = Start(EventsBytes(rows));
        copy.AppendEvents(rows, batchId, agent);
        copy.Finish();
        return copy;
    }

    /// <summary>
    /// A COPY of rows yet to be appended, <paramref name="rowBytes"/> at most (<see cref="EventsBytes"/>,
    /// <see cref="ChunksBytes"/>): its header is written, the rows go after it, then <see cref="Finish"/>.
    /// </summary>
    /// <remarks>
    /// So that the rows of several batches go in one COPY: each COPY is a round trip and a statement's setup in
    /// PostgreSQL, which is most of what a small batch costs there.
    /// </remarks>
    public static BinaryCopy Start(int rowBytes) => new(HeaderBytes + rowBytes + TrailerBytes);

    /// <summary>The most bytes <see cref="AppendEvents"/> writes for <paramref name="rows"/>.</summary>
    public static int EventsBytes(EncodedRows rows) => rows.Count * (2 + MaxFixedRowBytes) + rows.TextBytes;

    /// <summary>The bytes <see cref="AppendChunks"/> writes for <paramref name="chunks"/>.</summary>
    public static int ChunksBytes(EncodedChunks chunks)
    {
        int size = 0;
        for (int c = 0; c < chunks.Count; c++)
        {
            size += 2 + 12 + 12 + 4 + chunks[c].Length;
        }
        return size;
    }

    /// <summary>Appends a batch's events rows, without header or trailer.</summary>
    public void AppendEvents(EncodedRows rows, long batchId, long agent)
    {
        var writer = new RowWriter(_buffer.AsSpan(_used), rows.Buffer);
        for (int i = 0; i < rows.Count; i++)
        {
            writer.FieldCount(EventColumns.Count);
            EventColumns.Write(ref writer, new EventRow(rows, i, batchId, agent));
        }
        _used += writer.Written;
    }

    /// <summary>Ends the rows: the trailer, a field count of -1.</summary>
    public void Finish() => Int16(-1);

    private const int TrailerBytes = 2;

    /// <summary>Signature, flags and header extension length.</summary>
    private const int HeaderBytes = 11 + 4 + 4;

    /// <summary>Appends events rows: per row its field count, then each field as its length (-1 for NULL) and its bytes, big-endian.</summary>
    /// <remarks>
    /// A span and an offset, so that the writes stay in registers and on the stack rather than in the copy's fields, and
    /// the writes of the common columns inlined: without that the JIT stopped inlining partway through the row, and
    /// the rows cost a third more than when they were written out by hand (BenchmarkDotNet on one 1000-event batch).
    /// </remarks>
    private ref struct RowWriter(Span<byte> buffer, byte[] text) : IEventColumnWriter
    {
        private readonly Span<byte> _buffer = buffer;

        public int Written { get; private set; }

        public void FieldCount(int count)
        {
            BinaryPrimitives.WriteInt16BigEndian(_buffer[Written..], (short)count);
            Written += 2;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Int64(string name, long value)
        {
            var field = _buffer.Slice(Written, 12);
            BinaryPrimitives.WriteInt32BigEndian(field, 8);
            BinaryPrimitives.WriteInt64BigEndian(field[4..], value);
            Written += 12;
        }

        public void Int64(string name, bool has, long value)
        {
            if (has) Int64(name, value); else Null();
        }

        public void Bool(string name, bool has, bool value)
        {
            if (!has)
            {
                Null();
                return;
            }
            var field = _buffer.Slice(Written, 5);
            BinaryPrimitives.WriteInt32BigEndian(field, 1);
            field[4] = value ? (byte)1 : (byte)0;
            Written += 5;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Text(string name, in EventRow row, int slot, bool notNull)
        {
            if (!row.Rows.TryGetRange(row.Ordinal, slot, out int start, out int length))
            {
                Null();
                return;
            }
            BinaryPrimitives.WriteInt32BigEndian(_buffer[Written..], length);
            text.AsSpan(start, length).CopyTo(_buffer[(Written + 4)..]);
            Written += 4 + length;
        }

        /// <summary>bytea in binary COPY is the bytes themselves, as a text is.</summary>
        public void Blob(string name, in EventRow row, int slot) => Text(name, row, slot, notNull: false);

        /// <summary>A field of length 0: the payload is empty.</summary>
        public void EmptyBlob(string name)
        {
            BinaryPrimitives.WriteInt32BigEndian(_buffer[Written..], 0);
            Written += 4;
        }

        public readonly void Comment(string line)
        {
        }

        private void Null()
        {
            BinaryPrimitives.WriteInt32BigEndian(_buffer[Written..], -1);
            Written += 4;
        }
    }

    /// <summary>The most bytes an events row takes besides its texts' own bytes: each field's length, and the values of the others.</summary>
    private static readonly int MaxFixedRowBytes = EventColumns.Columns.Sum(c => 4 + c.Type switch
    {
        SqlType.Int => 8,
        SqlType.Bool => 1,
        _ => 0, // texts: their bytes are counted apart; the payload blob is empty
    });

    /// <summary>The event_chunks rows (batch_id, chunk, data) of a batch.</summary>
    public static BinaryCopy Chunks(EncodedChunks chunks, long batchId)
    {
        var copy = Start(ChunksBytes(chunks));
        copy.AppendChunks(chunks, batchId);
        copy.Finish();
        return copy;
    }

    /// <summary>Appends a batch's event_chunks rows, without header or trailer.</summary>
    public void AppendChunks(EncodedChunks chunks, long batchId)
    {
        for (int c = 0; c < chunks.Count; c++)
        {
            Int16(3);
            Int64(batchId);
            Int64(c);
            Int32(chunks[c].Length);
            chunks[c].Span.CopyTo(_buffer.AsSpan(_used));
            _used += chunks[c].Length;
        }
    }

    private void WriteHeader()
    {
        "PGCOPY\n"u8.CopyTo(_buffer);
        _buffer[7] = 0xff;
        _buffer[8] = (byte)'\r';
        _buffer[9] = (byte)'\n';
        _buffer[10] = 0;
        _used = 11;
        Int32(0); // flags: no OIDs
        Int32(0); // header extension length
    }

    private void Int16(short value)
    {
        BinaryPrimitives.WriteInt16BigEndian(_buffer.AsSpan(_used), value);
        _used += 2;
    }

    private void Int32(int value)
    {
        BinaryPrimitives.WriteInt32BigEndian(_buffer.AsSpan(_used), value);
        _used += 4;
    }

    private void Int64(long value)
    {
        Int32(8);
        BinaryPrimitives.WriteInt64BigEndian(_buffer.AsSpan(_used), value);
        _used += 8;
    }

    public void Dispose()
    {
        var buffer = Interlocked.Exchange(ref _buffer, []);
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
