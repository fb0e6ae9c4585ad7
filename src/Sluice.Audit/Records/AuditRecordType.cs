namespace Sluice.Audit.Records;

/// <summary>The record types the reassembler and interpreter act on (linux/audit.h). Names of all types: <see cref="RecordTypeNames"/>.</summary>
public static class AuditRecordType
{
    public const int Syscall = 1300;
    public const int Path = 1302;
    public const int ConfigChange = 1305;
    public const int Sockaddr = 1306;
    public const int Cwd = 1307;
    public const int Execve = 1309;
    public const int EndOfEvent = 1320;
    public const int Proctitle = 1327;
    public const int Kernel = 2000;

    /// <summary>
    /// auditd's rule for a record that ends its event on its own (auparse; docs/kernel-audit.md, "Records and events"):
    /// PROCTITLE, user-space messages 1100–1199, 1007–1299, AUDIT_KERNEL 2000, and 2100 and up.
    /// EOE is handled apart: it ends the event but is not kept.
    /// </summary>
    public static bool EndsEvent(int type) =>
        type == Proctitle
        || type is >= 1007 and <= 1299
        || type == Kernel
        || type >= 2100;
}
