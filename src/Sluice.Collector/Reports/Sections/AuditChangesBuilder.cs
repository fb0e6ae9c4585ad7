using System.Data.Common;

namespace Sluice.Collector.Reports.Sections;

/// <summary>
/// The audit-changes section (<see cref="ComplianceReport.AuditChanges"/>): changes to audit itself, the clock and kernel
/// modules from the events, and the agent's own starts, silences and rules changes from coverage.
/// </summary>
/// <param name="coverage">The coverage section, whose stretches and rules hashes give the agent's silences and rules changes.</param>
internal sealed class AuditChangesBuilder(ReportQuery q, IReadOnlyList<HostCoverage> coverage)
{
    internal static readonly string[] TimeSyscalls = ["settimeofday", "clock_settime", "adjtimex", "clock_adjtime", "stime"];
    internal static readonly string[] TimeTypes = ["TIME_ADJNTPVAL", "TIME_INJOFFSET"];
    internal static readonly string[] ModuleSyscalls = ["init_module", "finit_module", "delete_module"];
    internal static readonly string[] ModuleTypes = ["KERN_MODULE"];
    internal static readonly string[] ConfigTypes = ["CONFIG_CHANGE", "DAEMON_START", "DAEMON_END", "DAEMON_ABORT", "DAEMON_CONFIG", "DAEMON_RECONFIG", "DAEMON_ROTATE", "DAEMON_RESUME"];

    // A rule or setting changed through netlink is logged in the sender's system call: with syscall
    // auditing on, the event's main record is its SYSCALL (sendto) and CONFIG_CHANGE rides along.
    private const string ConfigInSyscall = "(syscall IN ('sendto', 'sendmsg') AND record_types LIKE '%,CONFIG_CHANGE,%')";

    private readonly List<AuditChange> _changes = [];
    private readonly Dictionary<(string Agent, string Host, string Category), long> _counts = [];

    public async Task<AuditChangeSection> BuildAsync(CancellationToken ct)
    {
        await FromEventsAsync(ct);
        await AgentStartsAsync(ct);
        FromCoverage();
        await PrunesAsync(ct);

        var ordered = _changes.OrderBy(e => e.TimeUnixMs).ThenBy(e => e.AgentId, StringComparer.Ordinal).ThenBy(e => e.Category, StringComparer.Ordinal)
            .ThenBy(e => e.Type, StringComparer.Ordinal).ThenBy(e => e.Detail, StringComparer.Ordinal).ToList();
        long total = _counts.Values.Sum();
        if (ordered.Count > q.Request.MaxRows)
        {
            ordered.RemoveRange(q.Request.MaxRows, ordered.Count - q.Request.MaxRows);
        }
        return new AuditChangeSection
        {
            Counts = [.. _counts.Select(kv => new AuditChangeCount(kv.Key.Agent, kv.Key.Host, kv.Key.Category, kv.Value))
                .OrderBy(x => x.AgentId, StringComparer.Ordinal).ThenBy(x => x.Category, StringComparer.Ordinal)],
            Changes = ordered,
            ChangesOmitted = total - ordered.Count,
        };
    }

    private void Count(string agent, string host, string category, long n) =>
        _counts[(agent, host, category)] = _counts.GetValueOrDefault((agent, host, category)) + n;

    private static string Category(DbCommand c) =>
        $"CASE WHEN first_type {ReportSql.In(c, "ct", ConfigTypes)} OR {ConfigInSyscall} THEN 'audit-config' " +
        $"WHEN first_type {ReportSql.In(c, "mt", ModuleTypes)} OR syscall {ReportSql.In(c, "ms", ModuleSyscalls)} THEN 'kernel-module' " +
        "ELSE 'time' END";

    private static string Where(DbCommand c) =>
        $"({ReportSql.FirstTypeIn(c, "wct", ConfigTypes)} OR {ReportSql.FirstTypeIn(c, "wtt", TimeTypes)} OR {ReportSql.FirstTypeIn(c, "wmt", ModuleTypes)} " +
        $"OR syscall {ReportSql.In(c, "wts", TimeSyscalls)} OR syscall {ReportSql.In(c, "wms", ModuleSyscalls)} OR {ConfigInSyscall})";

    /// <summary>Audit configuration, clock and kernel module changes: counted by category, and the first rows in time order.</summary>
    private async Task FromEventsAsync(CancellationToken ct)
    {
        await using (var c = q.Command(""))
        {
            c.CommandText = $"""
                SELECT agent, {Category(c)} AS category, COUNT(*) FROM events
                WHERE time_ms >= @from AND time_ms < @to AND {Where(c)}{q.AgentFilter()}
                GROUP BY agent, category
                """;
            q.Bind(c);
            foreach (var (agent, category, n) in await ReportSql.ReadAsync(c, r => (ReportSql.Long(r, 0), r.GetString(1), ReportSql.Long(r, 2)), ct))
            {
                Count(q.AgentId(agent), q.Hostname(agent), category, n);
            }
        }
        await using (var c = q.Command(""))
        {
            c.CommandText = $"""
                SELECT time_ms, agent, {Category(c)}, first_type, syscall, success, auid, exe, COALESCE(key, argv, comm), record_types FROM events
                WHERE time_ms >= @from AND time_ms < @to AND {Where(c)}{q.AgentFilter()}
                ORDER BY time_ms, batch_id, ordinal LIMIT {q.Request.MaxRows + 1}
                """;
            q.Bind(c);
            _changes.AddRange(await ReportSql.ReadAsync(c, r =>
            {
                long agent = ReportSql.Long(r, 1);
                string type = r.IsDBNull(4) ? r.GetString(3)
                    : r.GetString(9).Contains(",CONFIG_CHANGE,", StringComparison.Ordinal) ? $"CONFIG_CHANGE ({r.GetString(4)})"
                    : r.GetString(4);
                return new AuditChange(ReportSql.Long(r, 0), q.AgentId(agent), q.Hostname(agent), r.GetString(2), type, EventResult.Of(ReportSql.NullableBool(r, 5)),
                    ReportTime.User(ReportSql.NullableLong(r, 6)), ReportSql.Text(r, 7), ReportSql.Text(r, 8));
            }, ct));
        }
    }

    /// <summary>The agent's takeover: each start seen in heartbeats.</summary>
    private async Task AgentStartsAsync(CancellationToken ct)
    {
        await using var c = q.Command($"""
            SELECT agent, started_ms, MIN(time_ms) FROM heartbeats
            WHERE time_ms >= @from AND time_ms < @to AND started_ms >= @from{q.AgentFilter()}
            GROUP BY agent, started_ms
            """);
        foreach (var (agent, started, _) in await ReportSql.ReadAsync(c, r => (ReportSql.Long(r, 0), ReportSql.Long(r, 1), ReportSql.Long(r, 2)), ct))
        {
            if (q.Agent(agent) is not { } a)
            {
                continue;
            }
            Count(a.AgentId, a.Hostname, "agent-start", 1);
            _changes.Add(new AuditChange(started, a.AgentId, a.Hostname, "agent-start", "takeover", "success", "-", "", "agent started and took over kernel audit"));
        }
    }

    /// <summary>
    /// Each prune run in the range (<c>sluice-collector prune</c>): it deleted audit records of every host, so it is
    /// listed under the agent id "*" and the host it ran on, whatever the --agent filter.
    /// </summary>
    private async Task PrunesAsync(CancellationToken ct)
    {
        await using var c = q.Command(
            "SELECT started_ms, host, user_name, older_than_days, cutoff_ms, days, days_skipped, events, batches, heartbeats, status, store " +
            "FROM prunes WHERE started_ms >= @from AND started_ms < @to");
        foreach (var p in await ReportSql.ReadAsync(c, r => (Time: ReportSql.Long(r, 0), Host: r.GetString(1), User: r.GetString(2), DaysAsked: ReportSql.Long(r, 3),
            Cutoff: ReportSql.Long(r, 4), Days: ReportSql.Long(r, 5), Skipped: ReportSql.Long(r, 6), Events: ReportSql.Long(r, 7), Batches: ReportSql.Long(r, 8),
            Heartbeats: ReportSql.Long(r, 9), Status: r.GetString(10), Store: r.GetString(11)), ct))
        {
            Count(AllAgents, p.Host, "retention", 1);
            string unit = p.Store == "postgres" ? "day partitions" : "days";
            _changes.Add(new AuditChange(p.Time, AllAgents, p.Host, "retention", "prune", p.Skipped == 0 ? "success" : "partial", p.User, "sluice-collector",
                $"events before {ReportTime.Iso(p.Cutoff)} deleted (older than {p.DaysAsked} days): {p.Days} {unit}, {p.Events} events, {p.Batches} batches, " +
                $"{p.Heartbeats} heartbeats; {p.Status}"));
        }
    }

    /// <summary>The agent id of a change that concerns every host (a prune).</summary>
    internal const string AllAgents = "*";

    /// <summary>The agent's silences (stop and restore, or unreachable) and its rules changes, from coverage.</summary>
    private void FromCoverage()
    {
        foreach (var h in coverage)
        {
            for (int i = 1; i < h.Intervals.Count; i++)
            {
                if (h.Intervals[i - 1].Connected && !h.Intervals[i].Connected)
                {
                    var gap = h.Intervals[i];
                    Count(h.AgentId, h.Hostname, "agent-silent", 1);
                    _changes.Add(new AuditChange(gap.StartUnixMs, h.AgentId, h.Hostname, "agent-silent", "stop", "unknown", "-", "",
                        $"no heartbeat or batch for {ReportTime.Duration(gap.EndUnixMs - gap.StartUnixMs)}: agent stopped (audit restored to the host) or unreachable"));
                }
            }
            for (int i = 1; i < h.RulesHashes.Count; i++)
            {
                Count(h.AgentId, h.Hostname, "rules-change", 1);
                _changes.Add(new AuditChange(h.RulesHashes[i].AtUnixMs, h.AgentId, h.Hostname, "rules-change", "rules_hash", "success", "-", "",
                    $"rules hash {h.RulesHashes[i - 1].RulesHash} -> {h.RulesHashes[i].RulesHash}"));
            }
        }
    }
}
