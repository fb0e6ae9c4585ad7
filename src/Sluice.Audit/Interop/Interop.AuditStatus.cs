using System.Runtime.InteropServices;

namespace Sluice.Audit.Interop;

// linux/audit.h: struct audit_status and its mask and feature bits. The message types (AUDIT_GET,
// AUDIT_SET, ...) are Tables.AuditMessageType, generated from the same header.
internal static partial class Interop
{
    public const int AUDIT_NLGRP_READLOG = 1;

    public const uint AUDIT_STATUS_ENABLED = 0x0001;
    public const uint AUDIT_STATUS_FAILURE = 0x0002;
    public const uint AUDIT_STATUS_PID = 0x0004;
    public const uint AUDIT_STATUS_RATE_LIMIT = 0x0008;
    public const uint AUDIT_STATUS_BACKLOG_LIMIT = 0x0010;
    public const uint AUDIT_STATUS_BACKLOG_WAIT_TIME = 0x0020;
    public const uint AUDIT_STATUS_LOST = 0x0040;
    public const uint AUDIT_STATUS_BACKLOG_WAIT_TIME_ACTUAL = 0x0080;

    public const uint AUDIT_FEATURE_BITMAP_BACKLOG_LIMIT = 0x00000001;
    public const uint AUDIT_FEATURE_BITMAP_BACKLOG_WAIT_TIME = 0x00000002;
    public const uint AUDIT_FEATURE_BITMAP_EXECUTABLE_PATH = 0x00000004;
    public const uint AUDIT_FEATURE_BITMAP_EXCLUDE_EXTEND = 0x00000008;
    public const uint AUDIT_FEATURE_BITMAP_SESSIONID_FILTER = 0x00000010;
    public const uint AUDIT_FEATURE_BITMAP_LOST_RESET = 0x00000020;
    public const uint AUDIT_FEATURE_BITMAP_FILTER_FS = 0x00000040;

    public const uint AUDIT_FEATURE_ONLY_UNSET_LOGINUID = 0;
    public const uint AUDIT_FEATURE_LOGINUID_IMMUTABLE = 1;

    [StructLayout(LayoutKind.Explicit, Size = 16)]
    public struct audit_features
    {
        [FieldOffset(0)] public uint vers;
        [FieldOffset(4)] public uint mask;
        [FieldOffset(8)] public uint features;
        [FieldOffset(12)] public uint @lock;
    }

    /// <summary>Size of the full 11-field struct; older kernels send a prefix of it.</summary>
    public const int AUDIT_STATUS_SIZE = 44;

    [StructLayout(LayoutKind.Explicit, Size = AUDIT_STATUS_SIZE)]
    public struct audit_status
    {
        [FieldOffset(0)] public uint mask;
        [FieldOffset(4)] public uint enabled;
        [FieldOffset(8)] public uint failure;
        [FieldOffset(12)] public uint pid;
        [FieldOffset(16)] public uint rate_limit;
        [FieldOffset(20)] public uint backlog_limit;
        [FieldOffset(24)] public uint lost;
        [FieldOffset(28)] public uint backlog;
        [FieldOffset(32)] public uint feature_bitmap; // union with "version"
        [FieldOffset(36)] public uint backlog_wait_time;
        [FieldOffset(40)] public uint backlog_wait_time_actual;
    }
}
