using System.Runtime.InteropServices;

namespace Sluice.Audit.Interop;

// linux/audit.h: struct audit_rule_data, followed in memory by buflen bytes of strings.
internal static partial class Interop
{
    public const int AUDIT_BITMASK_SIZE = 64;
    public const int AUDIT_MAX_FIELDS = 64;
    public const int AUDIT_MAX_KEY_LEN = 256;

    /// <summary>Bytes before <c>buf</c>: 3 + 4*64 + 1 u32s.</summary>
    public const int AUDIT_RULE_DATA_SIZE = 1040;

    public const uint AUDIT_FILTER_USER = 0x00;
    public const uint AUDIT_FILTER_TASK = 0x01;
    public const uint AUDIT_FILTER_ENTRY = 0x02;
    public const uint AUDIT_FILTER_WATCH = 0x03;
    public const uint AUDIT_FILTER_EXIT = 0x04;
    public const uint AUDIT_FILTER_EXCLUDE = 0x05;
    public const uint AUDIT_FILTER_FS = 0x06;
    public const uint AUDIT_FILTER_URING_EXIT = 0x07;

    public const uint AUDIT_NEVER = 0;
    public const uint AUDIT_POSSIBLE = 1;
    public const uint AUDIT_ALWAYS = 2;

    public const uint AUDIT_ARCH = 11;
    public const uint AUDIT_FILTERKEY = 210;

    public const uint AUDIT_ARCH_X86_64 = 0xC000003E;
    public const uint AUDIT_ARCH_I386 = 0x40000003;
    public const uint AUDIT_ARCH_AARCH64 = 0xC00000B7;

    public const uint AUDIT_EQUAL = 0x40000000;
    public const uint AUDIT_NOT_EQUAL = 0x30000000;

    [StructLayout(LayoutKind.Explicit, Size = AUDIT_RULE_DATA_SIZE)]
    public unsafe struct audit_rule_data
    {
        [FieldOffset(0)] public uint flags;
        [FieldOffset(4)] public uint action;
        [FieldOffset(8)] public uint field_count;
        [FieldOffset(12)] public fixed uint mask[AUDIT_BITMASK_SIZE];
        [FieldOffset(268)] public fixed uint fields[AUDIT_MAX_FIELDS];
        [FieldOffset(524)] public fixed uint values[AUDIT_MAX_FIELDS];
        [FieldOffset(780)] public fixed uint fieldflags[AUDIT_MAX_FIELDS];
        [FieldOffset(1036)] public uint buflen;
    }
}
