using System.Buffers;
using System.Buffers.Binary;

namespace Sluice.Collector.Storage.Postgres;

/// <summary>
/// A batch's rows in PostgreSQL's binary COPY format, written straight into one pooled buffer and
/// sent through <c>BeginRawBinaryCopy</c>.
/// </summary>
/// <remarks>
/// Npgsql's row-by-row importer costs about 100 ns per value (an async state machine and a type
/// lookup each), and an event row has 24 values. Here the texts are the UTF-8 that
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

    /// <summary>The events table's rows (<see cref="StoreSchema.EventColumns"/>, in order) of a batch.</summary>
    public static BinaryCopy Events(EncodedRows rows, long batchId, long agent)
    {
        var events = rows.Batch.Events;
        const int numbers = 14; // batch_id ordinal agent time_ms serial success exit pid ppid uid auid euid ses time_adjusted
        int size = 32;
        for (int i = 0; i < rows.Count; i++)
        {
            size += 2 + numbers * 12 + 4 /* payload */;
            for (int slot = 0; slot < EncodedRows.Slots; slot++)
            {
                rows.TryGetRange(i, slot, out _, out int length);
                size += 4 + Math.Max(length, 0);
            }
        }
        var copy = new BinaryCopy(size);
        var text = rows.Buffer;
        for (int i = 0; i < rows.Count; i++)
        {
            var e = events[i];
            copy.Int16((short)StoreSchema.EventColumns.Length);
            copy.Int64(batchId);
            copy.Int64(i);
            copy.Int64(agent);
            copy.Int64(rows.Times.TimeMs(i, e));
            copy.Int64((long)e.Serial);
            copy.Text(rows, text, i, EncodedRows.Node);
            copy.Text(rows, text, i, EncodedRows.FirstType);
            copy.Text(rows, text, i, EncodedRows.RecordTypes);
            copy.Text(rows, text, i, EncodedRows.Syscall);
            copy.Bool(e.HasSuccess ? e.Success : null);
            copy.Int64(e.HasExit, e.Exit);
            copy.Int64(e.HasPid, e.Pid);
            copy.Int64(e.HasPpid, e.Ppid);
            copy.Int64(e.HasUid, e.Uid);
            copy.Int64(e.HasAuid, e.Auid);
            copy.Int64(e.HasEuid, e.Euid);
            copy.Int64(e.HasSes, e.Ses);
            copy.Text(rows, text, i, EncodedRows.Key);
            copy.Text(rows, text, i, EncodedRows.Exe);
            copy.Text(rows, text, i, EncodedRows.Comm);
            copy.Text(rows, text, i, EncodedRows.Argv);
            // payload: empty, the exact copy is in the event's chunk (EventChunks).
            copy.Int32(0);
            copy.Text(rows, text, i, EncodedRows.Paths);
            // time_adjusted: true, or NULL for an event indexed under its own time.
            copy.Bool(rows.Times.IsAdjusted(i) ? true : null);
        }
        copy.Int16(-1);
        return copy;
    }

    /// <summary>The event_chunks rows (batch_id, chunk, data) of a batch.</summary>
    public static BinaryCopy Chunks(EncodedChunks chunks, long batchId)
    {
        int size = 32;
        for (int c = 0; c < chunks.Count; c++)
        {
            size += 2 + 12 + 12 + 4 + chunks[c].Length;
        }
        var copy = new BinaryCopy(size);
        for (int c = 0; c < chunks.Count; c++)
        {
            copy.Int16(3);
            copy.Int64(batchId);
            copy.Int64(c);
            copy.Int32(chunks[c].Length);
            chunks[c].Span.CopyTo(copy._buffer.AsSpan(copy._used));
            copy._used += chunks[c].Length;
        }
        copy.Int16(-1);
        return copy;
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

    private void Bool(bool? value)
    {
        if (value is bool b)
        {
            Int32(1);
            _buffer[_used++] = b ? (byte)1 : (byte)0;
        }
        else
        {
            Int32(-1);
        }
    }

    private void Int64(bool has, long value)
    {
        if (has) Int64(value); else Int32(-1);
    }

    private void Text(EncodedRows rows, byte[] text, int row, int slot)
    {
        if (!rows.TryGetRange(row, slot, out int start, out int length))
        {
            Int32(-1);
            return;
        }
        Int32(length);
        text.AsSpan(start, length).CopyTo(_buffer.AsSpan(_used));
        _used += length;
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
