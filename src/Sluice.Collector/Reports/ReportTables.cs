using System.Globalization;

namespace Sluice.Collector.Reports;

/// <summary>A section as a table: the one shape the md, csv and html formats all print.</summary>
internal sealed record ReportTable(string Name, string Title, IReadOnlyList<string> Columns, IReadOnlyList<IReadOnlyList<string>> Rows, string? Note = null);

/// <summary>Turns a report into its tables, in report order. Every format prints these, so they agree.</summary>
internal static class ReportTables
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
        Policy(r), PolicyChanges(r),
    ];

    private static string YesNo(bool v) => v ? "yes" : "no";

    /// <summary>"lost", "batches_lost", then each kind of <paramref name="kinds"/>.</summary>
    private static IEnumerable<string> LossHeaders(IReadOnlyList<LossKind> kinds) => ["lost", "batches_lost", .. kinds.Select(k => k.Name)];

    private static IEnumerable<string> LossCells(LossCounts l, IReadOnlyList<LossKind> kinds)
    {
        long[] values = ReportLoss.Values(l);
        return [N(l.Total), N(l.BatchesLost), .. kinds.Select(k => N(values[ReportLoss.IndexOf(k)]))];
    }

    /// <summary>"0123abcd 5-7, 0123abcd 9": the first missing ranges, each with its epoch's first 8 digits.</summary>
    private static string Ranges(HostDelivery d) => string.Join(", ", d.Gaps.Select(g =>
        (g.Epoch.Length == 0 ? "" : g.Epoch[..Math.Min(8, g.Epoch.Length)] + " ") + (g.From == g.To ? N((long)g.From) : $"{g.From}-{g.To}")));

    private static string ByStatus(HostDelivery d) => string.Join("; ", d.RefusedByStatus.Select(x => $"{x.Status} {x.Batches} ({x.Events} events)"));

    private static readonly string[] DeliveryColumns =
    [
        "delivery_gaps", "missing_sequences", "explained_by_agent", "missing_ranges", "refused_batches", "refused_events", "refused_by_status",
        "conflicts", "refusals_unrecorded", "epochs", "interleaved_epochs", "interleaved_boot_ids",
    ];

    private static IEnumerable<string> DeliveryCells(HostDelivery d) =>
    [
        N(d.DeliveryGaps), N(d.MissingSequences), N(d.ExplainedByAgent), Ranges(d), N(d.RefusedBatches), N(d.RefusedEvents), ByStatus(d),
        N(d.Conflicts), N(d.RefusalsUnrecorded), N(d.Epochs), YesNo(d.InterleavedEpochs), YesNo(d.InterleavedBootIds),
    ];

    /// <summary>Per host: the verdict, time connected, every loss counter summed over the range, and delivery.</summary>
    public static ReportTable Coverage(ComplianceReport r) => new("coverage", "Coverage per host",
        ["agent", "host", "verdict", "complete", "connected", "disconnected", "events", "batches", "heartbeats", .. LossHeaders(ReportLoss.Kinds), .. DeliveryColumns, "rules_hash", "last_seen"],
        [.. r.Coverage.Select(h => (IReadOnlyList<string>)[h.AgentId, h.Hostname, h.Verdict, YesNo(h.Complete), ReportTime.Duration(h.ConnectedMs), ReportTime.Duration(h.DisconnectedMs),
            N(h.Events), N(h.Batches), N(h.Heartbeats), .. LossCells(h.Loss, ReportLoss.Kinds), .. DeliveryCells(h.Delivery), h.RulesHash, h.LastSeen ?? "never"])],
        string.Join(" ", new[]
        {
            r.CutAtNow ? $"The range ends after the report was made: coverage is shown up to {r.CoveredTo}." : null,
            r.PrunedBefore is { } pruned ? $"The range starts before the retained range: events before {pruned} were pruned, and no host is complete." : null,
        }.OfType<string>()) is { Length: > 0 } note ? note : null);

    public static ReportTable Intervals(ComplianceReport r) => new("intervals", "Connected and disconnected intervals",
        ["agent", "host", "state", "start", "end", "duration", .. LossHeaders(ReportLoss.Shown)],
        [.. r.Coverage.SelectMany(h => h.Intervals.Select(i => (IReadOnlyList<string>)[h.AgentId, h.Hostname, i.Connected ? "connected" : "disconnected", i.Start, i.End,
            ReportTime.Duration(i.EndUnixMs - i.StartUnixMs), .. LossCells(i.Loss, ReportLoss.Shown)]))],
        $"An agent silent for more than {ReportTime.Duration(r.MaxSilenceMs)} (no heartbeat, no batch interval) counts as disconnected."
            + (r.CutAtNow ? $" The range ends after the report was made: intervals end at {r.CoveredTo}." : ""));

    public static ReportTable Losses(ComplianceReport r) => new("loss", "Loss reported, per batch interval",
        ["agent", "host", "start", "end", .. LossHeaders(ReportLoss.Shown)],
        [.. r.Coverage.SelectMany(h => h.LossReports.Select(l => (IReadOnlyList<string>)[h.AgentId, h.Hostname, l.Start, l.End, .. LossCells(l.Loss, ReportLoss.Shown)]))]);

    /// <summary>The lines under the report's title, after range, agents and generation time: coverage, the window, fleet totals.</summary>
    public static IReadOnlyList<string> Summary(ComplianceReport r)
    {
        var t = r.Totals;
        var lines = new List<string> { $"Coverage: {t.Complete} of {t.Hosts} hosts continuous and complete" };
        if (r.CutAtNow)
        {
            lines.Add($"Coverage window: cut at now ({r.CoveredTo}); the range ends after the report was made, and no agent reports the future");
        }
        if (r.PrunedBefore is { } pruned)
        {
            lines.Add($"Retention: the range starts before the retained range. Events before {pruned} were pruned (see Audit-system changes); "
                + "the report shows nothing of that time, and no host is called complete");
        }
        lines.Add($"Loss, all hosts: {N(t.Loss.Total)} events lost ({ReportLoss.Describe(t.Loss)}); {N(t.Loss.BatchesLost)} whole batches lost");
        lines.Add($"Delivery, all hosts: {N(t.DeliveryGaps)} batches never received; {N(t.RefusedBatches)} batches refused ({N(t.RefusedEvents)} events, {N(t.Conflicts)} conflicts); "
            + $"{N(t.RefusalsUnrecorded)} refusals not recorded; {t.InterleavedHosts} hosts with interleaved epochs or boot ids");
        if (r.Policy.Groups.Count > 0 || r.Policy.Differing.Count > 0)
        {
            lines.Add(r.Policy.Differing.Count == 0
                ? "Central policy: every host runs its group's policy"
                : $"Central policy: {r.Policy.Differing.Count} hosts differ from their group's policy: {string.Join(", ", r.Policy.Differing)}");
        }
        return lines;
    }

    public static ReportTable RulesHashes(ComplianceReport r) => new("rules", "Rules hash in force and its changes",
        ["agent", "host", "from", "rules_hash"],
        [.. r.Coverage.SelectMany(h => h.RulesHashes.Select(c => (IReadOnlyList<string>)[h.AgentId, h.Hostname, c.At, c.RulesHash]))]);

    public static ReportTable PrivilegedByUser(ComplianceReport r) => new("privileged", "Privileged commands by host and login user",
        ["agent", "host", "login_user", "commands", "elevated"],
        [.. r.Privileged.ByUser.Select(x => (IReadOnlyList<string>)[x.AgentId, x.Hostname, x.LoginUser, N(x.Commands), N(x.Elevated)])],
        $"{r.Privileged.Total} commands run with euid 0, {r.Privileged.Elevated} of them by a login user other than root (sudo, su, setuid programs, or no login uid).");

    public static ReportTable PrivilegedCommands(ComplianceReport r) => new("privileged-commands", "Privileged command lines",
        ["agent", "host", "login_user", "uid", "exe", "argv", "parent_chain", "count", "first", "last"],
        [.. r.Privileged.Commands.Select(x => (IReadOnlyList<string>)[x.AgentId, x.Hostname, x.LoginUser, x.Uid, x.Exe, x.Argv, x.ParentChain, N(x.Count), x.First, x.Last])],
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

    public static ReportTable Policy(ComplianceReport r) => new("policy", "Central policy per host",
        ["agent", "host", "group", "state", "differs", "group_policy", "in_force", "refused", "refusal", "last_heartbeat"],
        [.. r.Policy.Hosts.Select(h => (IReadOnlyList<string>)[h.AgentId, h.Hostname, h.Group, h.State, YesNo(h.Differs), h.GroupPolicy,
            h.InForce.Length == 0 ? "local" : h.InForce, h.RefusedHash, h.Refusal, h.LastHeartbeat ?? "never"])],
        PolicyNote(r.Policy));

    /// <summary>The hosts that differ from their group's policy, named: the section's point.</summary>
    private static string PolicyNote(PolicySection p)
    {
        string groups = p.Groups.Count == 0
            ? "No group had a central policy at the end of the range."
            : "Group policies at the end of the range: " + string.Join(", ", p.Groups.Select(g => $"{g.Group} {g.Hash[..Math.Min(12, g.Hash.Length)]} (set {g.Set})")) + ".";
        string differing = p.Differing.Count == 0
            ? "No host differs from its group's policy."
            : $"{p.Differing.Count} hosts differ from their group's policy: {string.Join(", ", p.Differing)}.";
        return groups + " " + differing;
    }

    public static ReportTable PolicyChanges(ComplianceReport r) => new("policy-changes", "Central policies set in the range",
        ["time", "group", "policy", "set_by"],
        [.. r.Policy.Changes.Select(c => (IReadOnlyList<string>)[c.Set, c.Group, c.Hash, c.SetBy])]);

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
        "policy" => r.Policy.Controls,
        _ => [],
    };
}
