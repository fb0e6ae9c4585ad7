using Sluice.Audit.Records;

namespace Sluice.Agent.Filtering;

/// <summary>Decodes a string field (quoted or hex) into a caller's buffer, without allocating.</summary>
internal static class FieldText
{
    public static bool TryDecode(ReadOnlySpan<byte> value, AuditValueKind kind, Span<byte> buffer, out ReadOnlySpan<byte> text)
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
                if (AuditValues.IsHex(value) && value.Length / 2 <= buffer.Length)
                {
                    AuditValues.DecodeHex(value, buffer[..(value.Length / 2)]);
                    text = buffer[..(value.Length / 2)];
                    return true;
                }
                text = value;
                return true;
        }
    }

    /// <summary>Field <paramref name="key"/> of the first record of <paramref name="type"/>, decoded.</summary>
    public static bool TryGet(AuditEvent ev, int type, ReadOnlySpan<byte> key, Span<byte> buffer, out ReadOnlySpan<byte> text)
    {
        if (!ev.TryGetField(type, key, out var value, out var kind))
        {
            text = default;
            return false;
        }
        return TryDecode(value, kind, buffer, out text);
    }
}
