using System.Buffers.Binary;
using Sluice.Audit.Netlink;
using Sluice.Audit.Tables;

namespace Sluice.Benchmarks.Stages;

/// <summary>
/// Kernel records as received, kept in one buffer to be replayed through the agent's classes:
/// the file is <c>SLUICE-RECORDS-1\n</c>, then per record its message type (u16, little-endian),
/// its text length (u32) and the text as the kernel sent it (no netlink header, no trailing NUL).
/// </summary>
public sealed class CapturedRecords
{
    public static readonly byte[] Magic = "SLUICE-RECORDS-1\n"u8.ToArray();

    private readonly byte[] _data;
    private readonly int[] _offsets;

    private CapturedRecords(byte[] data, int[] offsets)
    {
        _data = data;
        _offsets = offsets;
    }

    public int Count => _offsets.Length;

    public long Bytes => _data.Length;

    /// <summary>Record <paramref name="i"/>: its type and text.</summary>
    public (AuditMessageType Type, ReadOnlyMemory<byte> Text) this[int i]
    {
        get
        {
            int at = _offsets[i];
            var type = (AuditMessageType)BinaryPrimitives.ReadUInt16LittleEndian(_data.AsSpan(at));
            int length = BinaryPrimitives.ReadInt32LittleEndian(_data.AsSpan(at + 2));
            return (type, _data.AsMemory(at + 6, length));
        }
    }

    /// <summary>Hands records [<paramref name="from"/>, <paramref name="to"/>) to <paramref name="sink"/> in order.</summary>
    public void Replay<TSink>(ref TSink sink, int from, int to) where TSink : IAuditRecordSink, allows ref struct
    {
        for (int i = from; i < to; i++)
        {
            int at = _offsets[i];
            var type = (AuditMessageType)BinaryPrimitives.ReadUInt16LittleEndian(_data.AsSpan(at));
            int length = BinaryPrimitives.ReadInt32LittleEndian(_data.AsSpan(at + 2));
            sink.OnRecord(type, _data.AsSpan(at + 6, length));
        }
    }

    public static CapturedRecords Read(string path) => Parse(File.ReadAllBytes(path), path);

    /// <summary>Parses a capture; a truncated or foreign file is refused with what is wrong.</summary>
    public static CapturedRecords Parse(byte[] data, string name = "capture")
    {
        if (!data.AsSpan().StartsWith(Magic))
        {
            throw new InvalidDataException($"{name}: not a record capture (it does not start with {System.Text.Encoding.ASCII.GetString(Magic).TrimEnd()})");
        }
        var offsets = new List<int>();
        int at = Magic.Length;
        while (at < data.Length)
        {
            if (data.Length - at < 6)
            {
                throw new InvalidDataException($"{name}: truncated record header at byte {at}");
            }
            int length = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(at + 2));
            if (length < 0 || length > data.Length - at - 6)
            {
                throw new InvalidDataException($"{name}: record at byte {at} claims {length} bytes, {data.Length - at - 6} left");
            }
            offsets.Add(at);
            at += 6 + length;
        }
        return new CapturedRecords(data, offsets.ToArray());
    }

    /// <summary>Writes records to a capture file as they come (a sink for <see cref="AuditEventSocket.Drain"/>).</summary>
    public sealed class Writer : IAuditRecordSink, IDisposable
    {
        private readonly Stream _stream;
        private readonly byte[] _needle;

        /// <param name="countKey">Records of type SYSCALL with <c> key="countKey"</c> are counted in <see cref="KeyedEvents"/>.</param>
        public Writer(Stream stream, string countKey)
        {
            _stream = stream;
            _needle = System.Text.Encoding.ASCII.GetBytes($" key=\"{countKey}\"");
            _stream.Write(Magic);
        }

        public long Records { get; private set; }

        /// <summary>SYSCALL records carrying the key: the load's events.</summary>
        public long KeyedEvents { get; private set; }

        public void OnRecord(AuditMessageType type, ReadOnlySpan<byte> text)
        {
            Span<byte> header = stackalloc byte[6];
            BinaryPrimitives.WriteUInt16LittleEndian(header, (ushort)type);
            BinaryPrimitives.WriteInt32LittleEndian(header[2..], text.Length);
            _stream.Write(header);
            _stream.Write(text);
            Records++;
            if (type == AuditMessageType.Syscall && text.IndexOf(_needle) >= 0)
            {
                KeyedEvents++;
            }
        }

        public void Dispose() => _stream.Dispose();
    }
}
