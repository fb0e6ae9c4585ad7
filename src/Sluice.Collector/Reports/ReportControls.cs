namespace Sluice.Collector.Reports;

/// <summary>The controls each section evidences.</summary>
internal static class ReportControls
{
    private const string Pci = "PCI DSS v4.0";
    private const string Cis = "CIS Linux Benchmark";
    private const string Nist = "NIST SP 800-53";

    public static readonly IReadOnlyList<ControlRef> Coverage =
    [
        new(Pci, "10.2.1", "Audit logs are enabled and active for all system components"),
        new(Pci, "10.7.2", "Failures of critical security control systems (audit logging) are detected and reported"),
        new(Pci, "10.3.3", "Audit logs are promptly backed up to a central, secure log server"),
        new(Cis, "6.3.1 / 4.1.1", "auditd (here: the Sluice agent) is installed and enabled, and collects from boot"),
        new(Nist, "AU-5", "Response to audit logging process failures"),
        new(Nist, "AU-12", "Audit record generation"),
    ];

    public static readonly IReadOnlyList<ControlRef> Privileged =
    [
        new(Pci, "10.2.1.2", "All actions taken by any individual with administrative access"),
        new(Cis, "6.3.3.x / 4.1.3.x", "Use of privileged commands and sudo are collected"),
        new(Nist, "AU-2", "Event logging: privileged functions"),
    ];

    public static readonly IReadOnlyList<ControlRef> Identity =
    [
        new(Pci, "10.2.1.5", "All changes to identification and authentication credentials"),
        new(Pci, "10.2.1.4", "Invalid logical access attempts"),
        new(Cis, "6.3.3.x / 4.1.3.x", "Events that modify user/group information, login and logout events, session initiation"),
        new(Nist, "AU-2", "Event logging: account management, logon events"),
    ];

    public static readonly IReadOnlyList<ControlRef> AccessFailures =
    [
        new(Pci, "10.2.1.4", "Invalid logical access attempts"),
        new(Pci, "10.2.1.1", "All individual user accesses to cardholder data"),
        new(Cis, "6.3.3.x / 4.1.3.x", "Unsuccessful file access attempts are collected"),
        new(Nist, "AU-2", "Event logging: failed access"),
    ];

    public static readonly IReadOnlyList<ControlRef> AuditChanges =
    [
        new(Pci, "10.2.1.6", "Initialization, stopping or pausing of the audit logs"),
        new(Pci, "10.2.1.7", "Creation and deletion of system-level objects (kernel modules)"),
        new(Pci, "10.6.x", "Time-synchronization: changes to time settings are logged"),
        new(Cis, "6.3.3.x / 4.1.3.x", "Time changes, kernel module loading, audit configuration changes are collected"),
        new(Nist, "AU-2 / AU-12", "Event logging of audit configuration changes"),
    ];

    public static readonly IReadOnlyList<ControlRef> Policy =
    [
        new(Pci, "10.2.2", "Audit logs record the required details for each auditable event"),
        new(Cis, "6.3.3.x / 4.1.3.x", "The audit rules of the benchmark are in force"),
        new(Nist, "CM-6", "Configuration settings are established, applied and deviations are identified"),
    ];

    public static readonly IReadOnlyList<ControlRef> Baseline =
    [
        new(Pci, "10.2.2", "Audit logs record the required details for each auditable event"),
        new(Cis, "6.3.3.x / 4.1.3.x", "The audit rules of the benchmark are in force"),
        new(Nist, "AU-2 / AU-12", "The event types selected for logging are configured"),
    ];
}
