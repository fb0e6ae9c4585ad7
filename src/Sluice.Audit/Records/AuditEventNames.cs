namespace Sluice.Audit.Records;

/// <summary>
/// Account names of an event's ids, resolved on the interpreting host (<see cref="Accounts.AccountNameCache"/>);
/// null where an id is absent, unset (4294967295) or in neither file. The strings are the cache's, shared by
/// all events.
/// </summary>
public sealed class AuditEventNames
{
    public string? Uid { get; set; }
    public string? Auid { get; set; }
    public string? Euid { get; set; }
    public string? Suid { get; set; }
    public string? Fsuid { get; set; }
    public string? Gid { get; set; }
    public string? Egid { get; set; }
    public string? Sgid { get; set; }
    public string? Fsgid { get; set; }

    /// <summary>Owner (ouid) name of each PATH record's inode, in <see cref="AuditEventSummary.Paths"/> order; null when none resolved.</summary>
    public string?[]? PathOuid { get; set; }

    /// <summary>Group (ogid) name of each PATH record's inode, in <see cref="AuditEventSummary.Paths"/> order; null when none resolved.</summary>
    public string?[]? PathOgid { get; set; }
}
