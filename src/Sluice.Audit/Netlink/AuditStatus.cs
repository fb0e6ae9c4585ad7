namespace Sluice.Audit.Netlink;

/// <summary>The kernel's audit status (struct audit_status), as <c>AUDIT_GET</c> returns it.</summary>
/// <remarks>Older kernels send fewer fields; those not sent are null.</remarks>
public sealed record AuditStatus
{
    public uint Enabled { get; init; }
    public uint Failure { get; init; }
    public uint Pid { get; init; }
    public uint RateLimit { get; init; }
    public uint BacklogLimit { get; init; }
    public uint Lost { get; init; }
    public uint Backlog { get; init; }
    public uint? FeatureBitmap { get; init; }
    public uint? BacklogWaitTime { get; init; }
    public uint? BacklogWaitTimeActual { get; init; }

    /// <summary>True when <c>enabled=2</c>: no setting or rule can change until reboot.</summary>
    public bool IsImmutable => Enabled == 2;

    /// <summary>The names of the feature bits set in <see cref="FeatureBitmap"/>.</summary>
    public IReadOnlyList<string> Features => AuditFeatures.Decode(FeatureBitmap ?? 0);
}

/// <summary>Decodes AUDIT_FEATURE_BITMAP_* bits (linux/audit.h).</summary>
internal static class AuditFeatures
{
    private static readonly (uint Bit, string Name)[] s_bits =
    [
        (Interop.Interop.AUDIT_FEATURE_BITMAP_BACKLOG_LIMIT, "backlog_limit"),
        (Interop.Interop.AUDIT_FEATURE_BITMAP_BACKLOG_WAIT_TIME, "backlog_wait_time"),
        (Interop.Interop.AUDIT_FEATURE_BITMAP_EXECUTABLE_PATH, "executable_path"),
        (Interop.Interop.AUDIT_FEATURE_BITMAP_EXCLUDE_EXTEND, "exclude_extend"),
        (Interop.Interop.AUDIT_FEATURE_BITMAP_SESSIONID_FILTER, "sessionid_filter"),
        (Interop.Interop.AUDIT_FEATURE_BITMAP_LOST_RESET, "lost_reset"),
        (Interop.Interop.AUDIT_FEATURE_BITMAP_FILTER_FS, "filter_fs"),
    ];

    public static IReadOnlyList<string> Decode(uint bitmap)
    {
        var names = new List<string>();
        uint known = 0;
        foreach (var (bit, name) in s_bits)
        {
            known |= bit;
            if ((bitmap & bit) != 0)
            {
                names.Add(name);
            }
        }
        uint unknown = bitmap & ~known;
        if (unknown != 0)
        {
            names.Add($"0x{unknown:x}");
        }
        return names;
    }
}

/// <summary>The loginuid_immutable feature (AUDIT_GET_FEATURE), as <c>auditctl -s</c> shows it.</summary>
/// <param name="LoginUidImmutable">Once set, a process's loginuid cannot change.</param>
/// <param name="Locked">The feature's setting is locked until reboot.</param>
public readonly record struct AuditFeatureState(bool LoginUidImmutable, bool Locked);
