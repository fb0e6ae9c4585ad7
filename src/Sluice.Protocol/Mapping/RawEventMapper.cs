using System.Text;
using Google.Protobuf;
using Sluice.Audit.Records;
using Sluice.Protocol.V1;

namespace Sluice.Protocol.Mapping;

/// <summary>
/// The raw form of an event (<c>raw_only</c>: header and records, nothing interpreted), built for the
/// agent's hot path: one <see cref="Event"/> and its <see cref="Record"/>s are reused from event to
/// event, and the record texts are wrapped, not copied.
/// </summary>
/// <remarks>
/// The event returned by <see cref="Map"/> is valid until the next call and until the
/// <see cref="AuditEvent"/> is disposed: serialize it before either. Not thread-safe; one per drain thread.
/// </remarks>
public sealed class RawEventMapper
{
    private readonly Event _event = new() { RawOnly = true };
    private readonly List<Record> _records = [];
    private byte[] _timestamp = [];
    private string _timestampText = "";
    private byte[] _node = [];
    private string _nodeText = "";

    public Event Map(AuditEvent ev)
    {
        ArgumentNullException.ThrowIfNull(ev);
        _event.Serial = ev.Serial;
        // Events of the same millisecond share the text: at tens of thousands of events per second, most do.
        _event.Timestamp = Text(ev.Timestamp, ref _timestamp, ref _timestampText, Encoding.ASCII);
        _event.TimeUnixMs = ev.UnixMilliseconds;
        _event.Node = ev.Node.IsEmpty ? "" : Text(ev.Node, ref _node, ref _nodeText, Encoding.UTF8);
        _event.Completion = AuditEventMapper.Completion(ev.Reason);
        _event.Records.Clear();
        for (int i = 0; i < ev.Count; i++)
        {
            if (i == _records.Count)
            {
                _records.Add(new Record());
            }
            Record record = _records[i];
            AuditRecord r = ev[i];
            record.Type = (uint)r.Type;
            record.Raw = UnsafeByteOperations.UnsafeWrap(ev.TextMemory(i));
            record.Enriched = r.Enriched.IsEmpty ? ByteString.Empty : ByteString.CopyFrom(r.Enriched);
            _event.Records.Add(record);
        }
        return _event;
    }

    private static string Text(ReadOnlySpan<byte> bytes, ref byte[] last, ref string lastText, Encoding encoding)
    {
        if (!bytes.SequenceEqual(last))
        {
            last = bytes.ToArray();
            lastText = encoding.GetString(bytes);
        }
        return lastText;
    }
}
