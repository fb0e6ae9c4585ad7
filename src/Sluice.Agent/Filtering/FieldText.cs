using Sluice.Audit.Records;
using Sluice.Audit.Tables;

namespace Sluice.Agent.Filtering;

/// <summary>A string field of an event, decoded into a caller's buffer without allocating.</summary>
internal static class FieldText
{
    /// <summary>Field <paramref name="key"/> of the first record of <paramref name="type"/>, decoded.</summary>
    public static bool TryGet(AuditEvent ev, AuditMessageType type, ReadOnlySpan<byte> key, Span<byte> buffer, out ReadOnlySpan<byte> text)
    {
        if (!ev.TryGetField(type, key, out var value, out var kind))
        {
            text = default;
            return false;
        }
        return AuditValues.TryDecodeString(value, kind, buffer, out text);
    }
}
