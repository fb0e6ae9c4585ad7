using System.Buffers.Text;

namespace Sluice.Audit.Records;

/// <summary>
/// The <c>audit(SEC.MSEC:SERIAL):</c> header every kernel record starts with
/// (<c>"audit(%llu.%03lu:%u): "</c>: docs/kernel-audit.md, "Records and events").
/// </summary>
public readonly struct AuditRecordHeader
{
    public AuditRecordHeader(long seconds, int milliseconds, uint serial, int timestampLength, int fieldsStart)
    {
        Seconds = seconds;
        Milliseconds = milliseconds;
        Serial = serial;
        TimestampLength = timestampLength;
        FieldsStart = fieldsStart;
    }

    /// <summary>Seconds since the epoch.</summary>
    public long Seconds { get; }

    public int Milliseconds { get; }

    /// <summary>The kernel's 32-bit event serial (it wraps).</summary>
    public uint Serial { get; }

    /// <summary>Length of <c>SEC.MSEC</c>, which starts at offset 6 (after <c>audit(</c>).</summary>
    public int TimestampLength { get; }

    /// <summary>Offset of the first field (after <c>): </c>).</summary>
    public int FieldsStart { get; }

    public const int TimestampStart = 6;

    /// <summary>The instant in Unix milliseconds.</summary>
    public long UnixMilliseconds => (Seconds * 1000) + Milliseconds;

    /// <summary>Parses the header at the start of <paramref name="kernelText"/>.</summary>
    public static bool TryParse(ReadOnlySpan<byte> kernelText, out AuditRecordHeader header)
    {
        header = default;
        if (!kernelText.StartsWith("audit("u8))
        {
            return false;
        }
        ReadOnlySpan<byte> s = kernelText[TimestampStart..];
        if (!Utf8Parser.TryParse(s, out ulong seconds, out int n) || n == 0 || n > 19 || n >= s.Length || s[n] != (byte)'.')
        {
            return false;
        }
        int p = n + 1;
        if (!Utf8Parser.TryParse(s[p..], out uint msec, out n) || n == 0 || n > 9 || msec > 999)
        {
            return false;
        }
        p += n;
        int timestampLength = p;
        if (p >= s.Length || s[p] != (byte)':')
        {
            return false;
        }
        p++;
        if (!Utf8Parser.TryParse(s[p..], out uint serial, out n) || n == 0)
        {
            return false;
        }
        p += n;
        if (!s[p..].StartsWith("):"u8))
        {
            return false;
        }
        p += 2;
        if (p < s.Length && s[p] == (byte)' ')
        {
            p++;
        }
        if (seconds > long.MaxValue / 1000)
        {
            return false;
        }
        header = new AuditRecordHeader((long)seconds, (int)msec, serial, timestampLength, TimestampStart + p);
        return true;
    }
}
