using System.Buffers.Text;

namespace Sluice.Audit.Records;

/// <summary>Decoding of field values: the kernel's untrusted-string encoding, hex, numbers.</summary>
public static class AuditValues
{
    /// <summary>
    /// The bytes of a string field the kernel logs with audit_log_untrustedstring (name, cwd, exe, comm,
    /// key, proctitle, EXECVE arguments): quoted when the string is plain, else hex
    /// (bytes ≤ 0x20, <c>"</c>, ≥ 0x7f: docs/kernel-audit.md, "Records and events").
    /// An unquoted value that is not valid hex (user-space fields like <c>hostname=?</c>) is taken as is.
    /// </summary>
    /// <returns>Null for <c>(null)</c>.</returns>
    public static byte[]? DecodeString(ReadOnlySpan<byte> value, AuditValueKind kind)
    {
        switch (kind)
        {
            case AuditValueKind.Null:
                return null;
            case AuditValueKind.Quoted:
                return value.ToArray();
            default:
                if (IsHex(value))
                {
                    byte[] bytes = new byte[value.Length / 2];
                    DecodeHex(value, bytes);
                    return bytes;
                }
                return value.ToArray();
        }
    }

    /// <summary>
    /// Decodes a string field like <see cref="DecodeString"/>, but into <paramref name="buffer"/>
    /// without allocating: for filters that match before interpretation. False for <c>(null)</c>;
    /// hex too long for the buffer is returned undecoded.
    /// </summary>
    public static bool TryDecodeString(ReadOnlySpan<byte> value, AuditValueKind kind, Span<byte> buffer, out ReadOnlySpan<byte> text)
    {
        switch (kind)
        {
            case AuditValueKind.Null:
                text = default;
                return false;
            case AuditValueKind.Quoted:
                text = value;
                return true;
            default:
                if (IsHex(value) && value.Length / 2 <= buffer.Length)
                {
                    var decoded = buffer[..(value.Length / 2)];
                    DecodeHex(value, decoded);
                    text = decoded;
                    return true;
                }
                text = value;
                return true;
        }
    }

    /// <summary>Appends the decoded bytes of a string field to <paramref name="destination"/> (see <see cref="DecodeString"/>).</summary>
    public static void AppendString(ReadOnlySpan<byte> value, AuditValueKind kind, List<byte> destination)
    {
        if (kind == AuditValueKind.Null)
        {
            return;
        }
        if (kind == AuditValueKind.Unquoted && IsHex(value))
        {
            Span<byte> chunk = value.Length <= 1024 ? stackalloc byte[value.Length / 2] : new byte[value.Length / 2];
            DecodeHex(value, chunk);
            destination.AddRange(chunk);
            return;
        }
        destination.AddRange(value);
    }

    /// <summary>True if <paramref name="value"/> is a non-empty, even-length run of hex digits.</summary>
    public static bool IsHex(ReadOnlySpan<byte> value) =>
        value.Length > 0 && (value.Length & 1) == 0 && !value.ContainsAnyExcept(HexDigits);

    /// <summary>Decodes hex digits (either case) into <paramref name="destination"/>, which holds value.Length / 2 bytes.</summary>
    public static void DecodeHex(ReadOnlySpan<byte> value, Span<byte> destination)
    {
        for (int i = 0, j = 0; j < destination.Length; i += 2, j++)
        {
            destination[j] = (byte)((Nibble(value[i]) << 4) | Nibble(value[i + 1]));
        }
    }

    /// <summary>A decimal field, e.g. <c>pid=123</c>.</summary>
    public static bool TryParseUInt32(ReadOnlySpan<byte> value, out uint result) =>
        Utf8Parser.TryParse(value, out result, out int n) && n == value.Length;

    /// <summary>A signed decimal field, e.g. <c>exit=-13</c>.</summary>
    public static bool TryParseInt64(ReadOnlySpan<byte> value, out long result) =>
        Utf8Parser.TryParse(value, out result, out int n) && n == value.Length;

    /// <summary>A hex field without 0x, e.g. <c>arch=c000003e</c>.</summary>
    public static bool TryParseHexUInt32(ReadOnlySpan<byte> value, out uint result) =>
        Utf8Parser.TryParse(value, out result, out int n, 'x') && n == value.Length;

    private static readonly System.Buffers.SearchValues<byte> HexDigits =
        System.Buffers.SearchValues.Create("0123456789ABCDEFabcdef"u8);

    private static int Nibble(byte c) => c <= (byte)'9' ? c - '0' : (c | 0x20) - 'a' + 10;
}
