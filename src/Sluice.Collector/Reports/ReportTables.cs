using System.Globalization;

namespace Sluice.Collector.Reports;

/// <summary>A section as a table: the one shape the md, csv and html formats all print.</summary>
public sealed record ReportTable(string Name, string Title, IReadOnlyList<string> Columns, IReadOnlyList<IReadOnlyList<string>> Rows, string? Note = null);

/// <summary>Turns a report into its tables, in report order. Every format prints these, so they agree.</summary>
public static class ReportTables
{
    private static string N(long v) => v.ToString(CultureInfo.InvariantCulture);

    public static IReadOnlyList<ReportTable> All(ComplianceReport r) =>
    [
        Coverage(r), Intervals(r), Losses(r), RulesHashes(r),
        PrivilegedByUser(r), PrivilegedCommands(r),
        IdentityCounts(r), IdentityEvents(r),
        AccessFailures(r),
        AuditChangeCounts(r), AuditChanges(r),
        Baseline(r),
    ];

    public static ReportTable Coverage(ComplianceReport r) => new("coverage", "Coverage per host",
        ["agent", "host", "verdict", "complete", "connected", "disconnected", "events", "batches", "heartbeats", "lost", "kernel_lost", "socket_overruns", "serial_gaps", "spool_dropped", "reassembly_evicted", "rules_hash", "last_seen"],
        [.. r.Coverage.Select(h => (IReadOnlyList<string>)[h.AgentId, h.Hostname, h.Verdict, h.Complete ? "yes" : "no", ReportTime.Duration(h.ConnectedMs), ReportTime.Duration(h.DisconnectedMs),
            N(h.Events), N(h.Batches), N(h.Heartbeats), N(h.Loss.Total), N(h.Loss.KernelLost), N(h.Loss.SocketOverruns), N(h.Loss.SerialGaps), N(h.Loss.SpoolDropped),
            N(h.Loss.ReassemblyEvicted), h.RulesHash, h.LastSeen ?? "never"])]);

    public static ReportTable Intervals(ComplianceReport r) => new("intervals", "Connected and disconnected intervals",
        ["agent", "host", "state", "start", "end", "duration", "lost", "kernel_lost", "socket_overruns", "serial_gaps", "spool_dropped", "reassembly_evicted"],
        [.. r.Coverage.SelectMany(h => h.Intervals.Select(i => (IReadOnlyList<string>)[h.AgentId, h.Hostname, i.Connected ? "connected" : "disconnected", i.Start, i.End,
            ReportTime.Duration(i.EndUnixMs - i.StartUnixMs), N(i.Loss.Total), N(i.Loss.KernelLost), N(i.Loss.SocketOverruns), N(i.Loss.SerialGaps), N(i.Loss.SpoolDropped), N(i.Loss.ReassemblyEvicted)]))],
        $"An agent silent for more than {ReportTime.Duration(r.MaxSilenceMs)} (no heartbeat, no batch interval) counts as disconnected.");

    public static ReportTable Losses(ComplianceReport r) => new("loss", "Loss reported, per batch interval",
        ["agent", "host", "start", "end", "lost", "kernel_lost", "socket_overruns", "serial_gaps", "spool_dropped", "reassembly_evicted"],
        [.. r.Coverage.SelectMany(h => h.LossReports.Select(l => (IReadOnlyList<string>)[h.AgentId, h.Hostname, l.Start, l.End, N(l.Loss.Total),
            N(l.Loss.KernelLost), N(l.Loss.SocketOverruns), N(l.Loss.SerialGaps), N(l.Loss.SpoolDropped), N(l.Loss.ReassemblyEvicted)]))]);

    public static ReportTable RulesHashes(ComplianceReport r) => new("rules", "Rules hash in force and its changes",
        ["agent", "host", "from", "rules_hash"],
        [.. r.Coverage.SelectMany(h => h.RulesHashes.Select(c => (IReadOnlyList<string>)[h.AgentId, h.Hostname, c.At, c.RulesHash]))]);

    public static ReportTable PrivilegedByUser(ComplianceReport r) => new("privileged", "Privileged commands by host and login user",
        ["agent", "host", "login_user", "commands", "elevated"],
        [.. r.Privileged.ByUser.Select(x => (IReadOnlyList<string>)[x.AgentId, x.Hostname, x.LoginUser, N(x.Commands), N(x.Elevated)])],
        $"{r.Privileged.Total} commands run with euid 0, {r.Privileged.Elevated} of them by a login user other than root (sudo, su, setuid programs, or no login uid).");

    public static ReportTable PrivilegedCommands(ComplianceReport r) => new("privileged-commands", "Privileged command lines",
        ["agent", "host", "login_user", "uid", "exe", "argv", "count", "first", "last"],
        [.. r.Privileged.Commands.Select(x => (IReadOnlyList<string>)[x.AgentId, x.Hostname, x.LoginUser, x.Uid, x.Exe, x.Argv, N(x.Count), x.First, x.Last])],
        Omitted(r.Privileged.CommandsOmitted, "distinct command lines"));

    public static ReportTable IdentityCounts(ComplianceReport r) => new("identity", "Identity and authentication, counts",
        ["agent", "host", "category", "type", "result", "count"],
        [.. r.Identity.Counts.Select(x => (IReadOnlyList<string>)[x.AgentId, x.Hostname, x.Category, x.Type, x.Result, N(x.Count)])]);

    public static ReportTable IdentityEvents(ComplianceReport r) => new("identity-events", "Identity and authentication events",
        ["time", "agent", "host", "category", "type", "result", "login_user", "uid", "exe", "detail"],
        [.. r.Identity.Events.Select(x => (IReadOnlyList<string>)[x.Time, x.AgentId, x.Hostname, x.Category, x.Type, x.Result, x.LoginUser, x.Uid, x.Exe, x.Detail])],
        Omitted(r.Identity.EventsOmitted, "events"));

    public static ReportTable AccessFailures(ComplianceReport r) => new("access-failures", "Access failures (EACCES, EPERM) by user and path",
        ["agent", "host", "login_user", "uid", "error", "path", "exe", "count", "first", "last"],
        [.. r.AccessFailures.Rows.Select(x => (IReadOnlyList<string>)[x.AgentId, x.Hostname, x.LoginUser, x.Uid, x.Error, x.Path, x.Exe, N(x.Count), x.First, x.Last])],
        $"{r.AccessFailures.Total} refused calls." + (r.AccessFailures.RowsOmitted > 0 ? " " + Omitted(r.AccessFailures.RowsOmitted, "groups") : ""));

    public static ReportTable AuditChangeCounts(ComplianceReport r) => new("audit-changes", "Audit-system changes, counts",
        ["agent", "host", "category", "count"],
        [.. r.AuditChanges.Counts.Select(x => (IReadOnlyList<string>)[x.AgentId, x.Hostname, x.Category, N(x.Count)])]);

    public static ReportTable AuditChanges(ComplianceReport r) => new("audit-change-events", "Audit-system changes",
        ["time", "agent", "host", "category", "type", "result", "login_user", "exe", "detail"],
        [.. r.AuditChanges.Changes.Select(x => (IReadOnlyList<string>)[x.Time, x.AgentId, x.Hostname, x.Category, x.Type, x.Result, x.LoginUser, x.Exe, x.Detail])],
        Omitted(r.AuditChanges.ChangesOmitted, "changes"));

    public static ReportTable Baseline(ComplianceReport r) => new("baseline", "Baseline check",
        ["agent", "host", "rules_hash", "reported", "rules_in_force", "compliant", "missing"],
        [.. r.Baseline.Hosts.Select(h => (IReadOnlyList<string>)[h.AgentId, h.Hostname, h.RulesHash, h.Known ? "yes" : "no", N(h.RulesInForce),
            h.Compliant ? "yes" : "no", string.Join("\n", h.Missing)])],
        r.Baseline.BaselinePath is null ? "No baseline file given (--baseline)." : $"Baseline {r.Baseline.BaselinePath}: {r.Baseline.BaselineRules.Count} rules.");

    private static string? Omitted(long n, string what) => n > 0 ? $"{n} more {what} not listed (row limit); the counts include them." : null;

    /// <summary>The controls each table's section evidences.</summary>
    public static IReadOnlyList<ControlRef> Controls(ComplianceReport r, string table) => table switch
    {
        "coverage" => ReportControls.Coverage,
        "privileged" => r.Privileged.Controls,
        "identity" => r.Identity.Controls,
        "access-failures" => r.AccessFailures.Controls,
        "audit-changes" => r.AuditChanges.Controls,
        "baseline" => r.Baseline.Controls,
        _ => [],
    };
}
