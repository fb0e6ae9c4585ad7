using System.Buffers.Binary;

namespace Sluice.Audit.Rules;

/// <summary>
/// What the kernel changes in a rule between ADD_RULE and LIST_RULES, so that a compiled rule
/// can be compared with the kernel's list byte for byte.
/// </summary>
internal static class RuleNormalizer
{
    private const uint FilterPrepend = 0x10;
    private const int MaskOffset = 12;

    /// <summary>
    /// The rule as LIST_RULES returns it:
    /// <list type="bullet">
    /// <item>the AUDIT_FILTER_PREPEND flag is dropped once the rule is placed (audit_add_rule);</item>
    /// <item>the last 16 bits of the syscall mask are syscall-class selectors that the kernel
    /// expands into the mask and clears (audit_to_entry_common). Only "all syscalls" sets
    /// them, and then the expansion adds nothing, so clearing is the whole effect.</item>
    /// </list>
    /// </summary>
    public static KernelRule AsListed(KernelRule rule)
    {
        var bytes = rule.Bytes.ToArray();
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(bytes);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, flags & ~FilterPrepend);
        var last = bytes.AsSpan(MaskOffset + 4 * 63, 4);
        BinaryPrimitives.WriteUInt32LittleEndian(last, BinaryPrimitives.ReadUInt32LittleEndian(last) & 0x0000FFFF);
        return KernelRule.FromBytes(bytes);
    }
}
