using System.Buffers.Text;
using Sluice.Audit.Tables;

namespace Sluice.Audit.Records;

/// <summary>
/// One line of an auditd log (<c>/var/log/audit/audit.log</c>, RAW or ENRICHED):
/// <c>[node=NAME ]type=NAME msg=audit(SEC.MSEC:SERIAL): fields[0x1d enriched fields]</c>.
/// </summary>
/// <remarks>
/// The kernel text (from <c>audit(</c> to the separator) is exactly what the kernel sent; auditd
/// only prefixes it and, in ENRICHED format, appends its interpretations after 0x1d.
/// </remarks>
public readonly ref struct AuditLogLine
{
    private AuditLogLine(AuditMessageType type, ReadOnlySpan<byte> node, ReadOnlySpan<byte> kernelText, ReadOnlySpan<byte> enriched)
    {
        Type = type;
        Node = node;
        KernelText = kernelText;
        Enriched = enriched;
    }

    /// <summary>The record type number (from its name, or from <c>UNKNOWN[n]</c>).</summary>
    public AuditMessageType Type { get; }

    /// <summary>The <c>node=</c> prefix's value; empty if none.</summary>
    public ReadOnlySpan<byte> Node { get; }

    /// <summary>The kernel's text: <c>audit(SEC.MSEC:SERIAL): fields</c>.</summary>
    public ReadOnlySpan<byte> KernelText { get; }

    /// <summary>auditd's interpreted fields after 0x1d (ENRICHED format); empty if none.</summary>
    public ReadOnlySpan<byte> Enriched { get; }

    /// <summary>Splits a log line (without or with its trailing newline).</summary>
    public static AuditParseError TryParse(ReadOnlySpan<byte> line, out AuditLogLine parsed)
    {
        parsed = default;
        while (line.Length > 0 && (line[^1] == (byte)'\n' || line[^1] == (byte)'\r'))
        {
            line = line[..^1];
        }
        if (line.IsEmpty)
        {
            return AuditParseError.BadLength;
        }
        ReadOnlySpan<byte> node = default;
        if (line.StartsWith("node="u8))
        {
            int sp = line.IndexOf((byte)' ');
            if (sp < 0)
            {
                return AuditParseError.BadType;
            }
            node = line[5..sp];
            line = line[(sp + 1)..];
        }
        if (!line.StartsWith("type="u8))
        {
            return AuditParseError.BadType;
        }
        int typeEnd = line.IndexOf((byte)' ');
        if (typeEnd < 0)
        {
            return AuditParseError.BadType;
        }
        if (!TryParseType(line[5..typeEnd], out AuditMessageType type))
        {
            return AuditParseError.BadType;
        }
        ReadOnlySpan<byte> rest = line[(typeEnd + 1)..];
        if (!rest.StartsWith("msg="u8))
        {
            return AuditParseError.BadHeader;
        }
        rest = rest[4..];
        int gs = rest.IndexOf(AuditRecordReader.EnrichedSeparator);
        ReadOnlySpan<byte> kernel = gs < 0 ? rest : rest[..gs];
        ReadOnlySpan<byte> enriched = gs < 0 ? default : rest[(gs + 1)..];
        if (!AuditRecordHeader.TryParse(kernel, out _))
        {
            return AuditParseError.BadHeader;
        }
        parsed = new AuditLogLine(type, node, kernel, enriched);
        return AuditParseError.None;
    }

    // NAME, or UNKNOWN[1234] (auditd's form for types it has no name for)
    private static bool TryParseType(ReadOnlySpan<byte> name, out AuditMessageType type)
    {
        if (name.StartsWith("UNKNOWN["u8) && name.Length > 9 && name[^1] == (byte)']')
        {
            bool parsed = Utf8Parser.TryParse(name[8..^1], out ushort number, out int n) && n == name.Length - 9;
            type = (AuditMessageType)number;
            return parsed;
        }
        return AuditMessageTypeTable.TryGetType(name, out type);
    }
}
