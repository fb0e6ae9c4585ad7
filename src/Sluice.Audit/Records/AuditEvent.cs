using System.Buffers;
using Sluice.Audit.Tables;

namespace Sluice.Audit.Records;

/// <summary>Why the reassembler considered an event complete.</summary>
public enum CompletionReason : byte
{
    /// <summary>An EOE record arrived.</summary>
    EndOfEvent,
    /// <summary>A record that ends its event on its own (PROCTITLE, user-space messages, ...: <see cref="AuditReassembler.EndsEvent"/>).</summary>
    LastRecord,
    /// <summary>No end came within the timeout.</summary>
    Timeout,
    /// <summary>Pushed out early because too many events, or too many bytes, were in flight.</summary>
    Evicted,
    /// <summary>Completed on request: end of input, or shutdown.</summary>
    Flushed,
}

/// <summary>One record of an <see cref="AuditEvent"/>: its type and exact kernel text, valid while the event is.</summary>
public readonly ref struct AuditRecord
{
    internal AuditRecord(AuditMessageType type, ReadOnlySpan<byte> text, int fieldsStart, ReadOnlySpan<byte> enriched)
    {
        Type = type;
        Text = text;
        FieldsStart = fieldsStart;
        Enriched = enriched;
    }

    public AuditMessageType Type { get; }

    /// <summary>The record exactly as the kernel sent it: <c>audit(SEC.MSEC:SERIAL): fields</c>.</summary>
    public ReadOnlySpan<byte> Text { get; }

    /// <summary>Offset of the fields in <see cref="Text"/>.</summary>
    public int FieldsStart { get; }

    /// <summary>auditd's interpreted suffix (ENRICHED log format), without the 0x1d; empty otherwise.</summary>
    public ReadOnlySpan<byte> Enriched { get; }

    /// <summary>A reader over the record's fields.</summary>
    public AuditRecordReader Fields() => new(Text[FieldsStart..]);

    /// <summary>A reader over the enriched suffix's fields.</summary>
    public AuditRecordReader EnrichedFields() => new(Enriched);
}

/// <summary>
/// All the records of one kernel event (one serial), in arrival order, as exact kernel text.
/// </summary>
/// <remarks>
/// Ownership: the reassembler rents the text buffer from <see cref="ArrayPool{T}.Shared"/> and hands
/// the event, with the buffer, to its event handler. Whoever holds the event last calls
/// <see cref="Dispose"/>, which returns the buffer to the pool and the event object to its
/// reassembler for reuse; after that the event must not be touched. An event never disposed is
/// collected by the GC and nothing leaks, but its buffer is not reused.
/// EOE records end an event and are not kept (they carry no fields).
/// </remarks>
public sealed class AuditEvent : IDisposable
{
    private readonly AuditReassembler? _owner;
    private byte[] _buffer = [];
    private int _used;
    private RecordSlot[] _records = new RecordSlot[8];
    private int _count;

    internal AuditEvent(AuditReassembler? owner) => _owner = owner;

    /// <summary>The kernel's serial for this event.</summary>
    public uint Serial { get; private set; }

    /// <summary>Seconds since the epoch, from the first record.</summary>
    public long Seconds { get; private set; }

    public int Milliseconds { get; private set; }

    /// <summary>The instant in Unix milliseconds.</summary>
    public long UnixMilliseconds => (Seconds * 1000) + Milliseconds;

    /// <summary><c>SEC.MSEC</c> exactly as the first record's header has it.</summary>
    public ReadOnlySpan<byte> Timestamp => _count == 0 ? default : _buffer.AsSpan(_records[0].Offset + AuditRecordHeader.TimestampStart, _timestampLength);

    /// <summary>The <c>node=</c> name of the host that logged the event (log files); empty otherwise.</summary>
    public ReadOnlySpan<byte> Node => _node;

    public CompletionReason Reason { get; internal set; }

    /// <summary>Number of records kept.</summary>
    public int Count => _count;

    /// <summary>Bytes of record text held.</summary>
    public int TextBytes => _used;

    /// <summary>Record <paramref name="index"/>, in arrival order.</summary>
    public AuditRecord this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)_count, nameof(index));
            ref readonly RecordSlot s = ref _records[index];
            return new AuditRecord(s.Type, _buffer.AsSpan(s.Offset, s.Length), s.FieldsStart, _buffer.AsSpan(s.Offset + s.Length, s.EnrichedLength));
        }
    }

    /// <summary>
    /// Record <paramref name="index"/>'s exact text as memory, for wrapping without a copy (protobuf's
    /// <c>UnsafeByteOperations.UnsafeWrap</c>). Valid only until the event is disposed: whatever wraps it
    /// must be consumed (serialized) before that.
    /// </summary>
    public ReadOnlyMemory<byte> TextMemory(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)_count, nameof(index));
        ref readonly RecordSlot s = ref _records[index];
        return _buffer.AsMemory(s.Offset, s.Length);
    }

    /// <summary>
    /// An event built from records grouped elsewhere (by the agent that shipped them), not by a
    /// reassembler: add its records with <see cref="TryAppend"/>, in their order. Serial and time come
    /// from the first record's header. Dispose it to return its buffer to the pool.
    /// </summary>
    public static AuditEvent Detached() => new(owner: null);

    /// <summary>
    /// Appends one record to a <see cref="Detached"/> event, whatever its serial. False, and nothing
    /// appended, when its header does not parse (<c>audit(SEC.MSEC:SERIAL): </c>): its fields cannot be
    /// located, so it cannot be interpreted.
    /// </summary>
    public bool TryAppend(AuditMessageType type, ReadOnlySpan<byte> text, ReadOnlySpan<byte> enriched = default)
    {
        if (_owner is not null)
        {
            throw new InvalidOperationException("records of a reassembler's event are added by the reassembler");
        }
        if (!AuditRecordHeader.TryParse(text, out AuditRecordHeader header))
        {
            return false;
        }
        if (_count == 0)
        {
            Start(0, header.Serial, header, [], 0);
        }
        Append(type, text, header.FieldsStart, enriched);
        return true;
    }

    /// <summary>The event's main type: SYSCALL when it has one, else its first record's type.</summary>
    public AuditMessageType MainType
    {
        get
        {
            for (int i = 0; i < _count; i++)
            {
                if (_records[i].Type == AuditMessageType.Syscall)
                {
                    return AuditMessageType.Syscall;
                }
            }
            return _count == 0 ? default : _records[0].Type;
        }
    }

    /// <summary>Index of the first record of <paramref name="type"/>, or -1.</summary>
    public int IndexOf(AuditMessageType type, int start = 0)
    {
        for (int i = start; i < _count; i++)
        {
            if (_records[i].Type == type)
            {
                return i;
            }
        }
        return -1;
    }

    /// <summary>
    /// The raw value of field <paramref name="key"/> in the first record of <paramref name="type"/>, without
    /// decoding or allocating: for filters that decide before interpretation.
    /// </summary>
    public bool TryGetField(AuditMessageType type, ReadOnlySpan<byte> key, out ReadOnlySpan<byte> value, out AuditValueKind kind)
    {
        int i = IndexOf(type);
        if (i >= 0)
        {
            AuditRecordReader reader = this[i].Fields();
            if (reader.TryFind(key))
            {
                value = reader.Value;
                kind = reader.ValueKind;
                return true;
            }
        }
        value = default;
        kind = default;
        return false;
    }

    // reassembler bookkeeping
    internal ulong GroupKey;
    internal long FirstSeen;
    internal AuditEvent? Older;
    internal AuditEvent? Newer;
    internal bool Pooled;
    private int _timestampLength;
    private byte[] _node = [];

    internal void Start(ulong groupKey, uint serial, in AuditRecordHeader header, byte[] node, long firstSeen)
    {
        GroupKey = groupKey;
        Serial = serial;
        Seconds = header.Seconds;
        Milliseconds = header.Milliseconds;
        _timestampLength = header.TimestampLength;
        _node = node;
        FirstSeen = firstSeen;
        _count = 0;
        _used = 0;
        Pooled = false;
    }

    internal void Append(AuditMessageType type, ReadOnlySpan<byte> text, int fieldsStart, ReadOnlySpan<byte> enriched)
    {
        int need = _used + text.Length + enriched.Length;
        if (need > _buffer.Length)
        {
            byte[] bigger = ArrayPool<byte>.Shared.Rent(Math.Max(need, Math.Max(1024, _buffer.Length * 2)));
            _buffer.AsSpan(0, _used).CopyTo(bigger);
            if (_buffer.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
            }
            _buffer = bigger;
        }
        if (_count == _records.Length)
        {
            Array.Resize(ref _records, _records.Length * 2);
        }
        text.CopyTo(_buffer.AsSpan(_used));
        enriched.CopyTo(_buffer.AsSpan(_used + text.Length));
        _records[_count++] = new RecordSlot(type, _used, text.Length, fieldsStart, enriched.Length);
        _used = need;
    }

    /// <summary>Returns the text buffer to the pool and this object to its reassembler. Idempotent.</summary>
    public void Dispose()
    {
        if (Pooled)
        {
            return;
        }
        Pooled = true;
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }
        _count = 0;
        _used = 0;
        _owner?.Return(this);
    }

    private readonly record struct RecordSlot(AuditMessageType Type, int Offset, int Length, int FieldsStart, int EnrichedLength);
}
