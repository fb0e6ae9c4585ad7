using System.Buffers;
using System.Text;
using Google.Protobuf;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Storage;

/// <summary>
/// A batch's events ready to insert: the UTF-8 of each event's text search columns, all in one pooled
/// buffer, their numeric columns read straight from the event, the time each is indexed under
/// (<see cref="IndexTimes"/>), and the events' exact copies compressed into chunks (<see cref="EventChunks"/>).
/// </summary>
/// <remarks>
/// Built on the calling (gRPC) thread, so that a store's single writer only binds spans and steps:
/// no per-event allocation, no UTF-16 to UTF-8 conversion, no serialisation and no compression on the writer.
/// The buffer is rented; <see cref="Dispose"/> returns it once the rows are written.
/// </remarks>
internal sealed class EncodedRows : IDisposable
{
    /// <summary>
    /// Per event: node, first_type, record_types, syscall, key, exe, comm, argv, paths, and from its process context
    /// (<see cref="ContextColumns"/>) parent_exe, container_id, container_runtime, unit, parent_chain and the context's bytes.
    /// </summary>
    public const int Slots = 15;

    public const int Node = 0, FirstType = 1, RecordTypes = 2, Syscall = 3, Key = 4, Exe = 5, Comm = 6, Argv = 7, Paths = 8;

    public const int ParentExe = 9, ContainerId = 10, ContainerRuntime = 11, Unit = 12, ParentChain = 13, Context = 14;

    private byte[] _buffer;
    private int _used;
    // (start, length) per slot per event; length -1 is NULL.
    private readonly int[] _spans;

    private EncodedRows(EventBatch batch, IndexTimes times, int initialBytes)
    {
        Batch = batch;
        Times = times;
        _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(initialBytes, 1024));
        _spans = new int[batch.Events.Count * Slots * 2];
        var digest = new BatchDigest(batch);
        Chunks = EncodedChunks.From(batch.Events, digest);
        Digest = digest.Finish();
    }

    public EventBatch Batch { get; }

    /// <summary>The time each event is indexed under (<c>time_ms</c>, <c>time_adjusted</c>).</summary>
    public IndexTimes Times { get; }

    public EncodedChunks Chunks { get; }

    /// <summary>The batch's content digest (<see cref="BatchDigest"/>), computed while its events were serialised.</summary>
    public string Digest { get; }

    public int Count => Batch.Events.Count;

    public static EncodedRows From(EventBatch batch, IndexTimes times)
    {
        var events = batch.Events;
        var rows = new EncodedRows(batch, times, events.Count * 256);
        for (int i = 0; i < events.Count; i++)
        {
            var e = events[i];
            var s = EventSummary.From(e);
            int slot = i * Slots;
            rows.Put(slot + Node, s.Node);
            rows.Put(slot + FirstType, s.FirstType);
            rows.Put(slot + RecordTypes, s.RecordTypes);
            rows.Put(slot + Syscall, s.Syscall);
            rows.PutSearchText(slot + Key, e.Key, s.Key);
            rows.PutSearchText(slot + Exe, e.Exe, s.Exe);
            rows.PutSearchText(slot + Comm, e.Comm, s.Comm);
            rows.Put(slot + Argv, s.Argv);
            rows.Put(slot + Paths, s.Paths);
            rows.PutContext(slot, e.Context);
        }
        return rows;
    }

    /// <summary>The UTF-8 bytes of one slot of event <paramref name="index"/>; false when the column is NULL.</summary>
    public bool TryGet(int index, int slot, out ReadOnlySpan<byte> value)
    {
        int at = (index * Slots + slot) * 2;
        int length = _spans[at + 1];
        if (length < 0)
        {
            value = default;
            return false;
        }
        value = _buffer.AsSpan(_spans[at], length);
        return true;
    }

    /// <summary>Where one slot of event <paramref name="index"/> is in <see cref="Buffer"/>; false when the column is NULL.</summary>
    public bool TryGetRange(int index, int slot, out int start, out int length)
    {
        int at = (index * Slots + slot) * 2;
        start = _spans[at];
        length = _spans[at + 1];
        return length >= 0;
    }

    /// <summary>The bytes of every slot; valid until <see cref="Dispose"/>.</summary>
    public byte[] Buffer => _buffer;

    /// <summary>How many bytes of <see cref="Buffer"/> the slots use, all events together.</summary>
    public int TextBytes => _used;

    private void Put(int slot, string? text)
    {
        if (text is null)
        {
            _spans[slot * 2 + 1] = -1;
            return;
        }
        var span = Reserve(slot, Encoding.UTF8.GetMaxByteCount(text.Length));
        SetLength(slot, Encoding.UTF8.GetBytes(text, span));
    }

    /// <summary>The context's columns of one event: all NULL when it has none.</summary>
    private void PutContext(int slot, ProcessContext? c)
    {
        var parentExe = ContextColumns.ParentExe(c);
        PutSearchText(slot + ParentExe, parentExe, IndexedText.Bound(EventSummary.SearchText(parentExe)));
        var container = ContextColumns.ContainerOf(c);
        Put(slot + ContainerId, ContextColumns.Text(container?.Id));
        Put(slot + ContainerRuntime, ContextColumns.Text(container?.Runtime));
        Put(slot + Unit, ContextColumns.Text(ContextColumns.UnitOf(c)));
        Put(slot + ParentChain, ContextColumns.Chain(c));
        if (c is null)
        {
            _spans[(slot + Context) * 2 + 1] = -1;
            return;
        }
        int size = ContextColumns.Size(c);
        ContextColumns.Encode(c, Reserve(slot + Context, size));
    }

    /// <summary>Bytes from the audited process: copied as they are when they are already what the text column holds.</summary>
    private void PutSearchText(int slot, ByteString raw, string? text)
    {
        var bytes = raw.Span;
        if (text is not null && bytes.Length <= IndexedText.MaxBytes && System.Text.Unicode.Utf8.IsValid(bytes) && !bytes.Contains((byte)0))
        {
            bytes.CopyTo(Reserve(slot, bytes.Length));
            return;
        }
        Put(slot, text);
    }

    private Span<byte> Reserve(int slot, int length)
    {
        if (_buffer.Length - _used < length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _used + length));
            _buffer.AsSpan(0, _used).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }
        _spans[slot * 2] = _used;
        _spans[slot * 2 + 1] = length;
        var span = _buffer.AsSpan(_used, length);
        _used += length;
        return span;
    }

    private void SetLength(int slot, int length)
    {
        _used -= _spans[slot * 2 + 1] - length;
        _spans[slot * 2 + 1] = length;
    }

    public void Dispose()
    {
        Chunks.Dispose();
        var buffer = Interlocked.Exchange(ref _buffer, []);
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
