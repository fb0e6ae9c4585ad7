using Sluice.Collector.Policy;

namespace Sluice.Collector.Reports.Sections;

/// <summary>
/// The central-policy section (<see cref="ComplianceReport.Policy"/>): per host, its group's policy at the end of the
/// range and what the host's last heartbeat before then said it runs; the hosts that differ; the policy changes of
/// the range.
/// </summary>
/// <remarks>
/// The group's policy "at the end of the range" is the last one set before it (<c>policy_history</c>), so a report of
/// a past range judges the hosts against the policy of then. A host's state is its last heartbeat's before
/// <see cref="ReportQuery.CoveredTo"/>, found through the (agent, time_ms) index, one lookup per host. The refusal's
/// text is kept for the latest refusal only (in agents): it is shown when that is the one the heartbeat reported.
/// </remarks>
internal sealed class PolicyBuilder(ReportQuery q)
{
    public async Task<PolicySection> BuildAsync(CancellationToken ct)
    {
        var history = new List<(string Group, string Hash, long SetMs, string SetBy)>();
        await using (var c = q.Command("SELECT group_name, hash, set_ms, set_by FROM policy_history WHERE set_ms < @covered"))
        {
            ReportSql.Add(c, "covered", q.CoveredTo);
            history = await ReportSql.ReadAsync(c, r => (r.GetString(0), r.GetString(1), ReportSql.Long(r, 2), r.GetString(3)), ct);
        }
        history.Sort((a, b) => a.SetMs != b.SetMs ? a.SetMs.CompareTo(b.SetMs) : string.CompareOrdinal(a.Group, b.Group));
        var current = new Dictionary<string, GroupPolicyAt>(StringComparer.Ordinal);
        foreach (var h in history)
        {
            current[h.Group] = new GroupPolicyAt(h.Group, h.Hash, h.SetMs, h.SetBy);
        }

        var latest = new Dictionary<long, (string Group, string Refused, string Refusal)>();
        await using (var c = q.Command("SELECT id, group_name, policy_refused_hash, policy_refusal FROM agents WHERE " + q.AgentsIn().Replace("agent IN", "id IN", StringComparison.Ordinal)))
        {
            foreach (var row in await ReportSql.ReadAsync(c, r => (ReportSql.Long(r, 0), r.GetString(1), r.GetString(2), r.GetString(3)), ct))
            {
                latest[row.Item1] = (row.Item2, row.Item3, row.Item4);
            }
        }

        var hosts = new List<HostPolicy>();
        foreach (var agent in q.AgentsInOrder)
        {
            await using var c = q.Command("""
                SELECT group_name, policy_hash, policy_refused_hash, received_ms FROM heartbeats
                WHERE agent = @hb_agent AND time_ms < @covered ORDER BY time_ms DESC LIMIT 1
                """);
            ReportSql.Add(c, "hb_agent", agent.Ref);
            ReportSql.Add(c, "covered", q.CoveredTo);
            var beat = (await ReportSql.ReadAsync(c, r => (Group: r.GetString(0), InForce: r.GetString(1), Refused: r.GetString(2), Received: ReportSql.Long(r, 3)), ct))
                .Cast<(string Group, string InForce, string Refused, long Received)?>().FirstOrDefault();
            var stored = latest.GetValueOrDefault(agent.Ref);
            string group = beat?.Group ?? stored.Group ?? Auth.AgentTokens.DefaultGroup;
            var expected = current.GetValueOrDefault(group);
            string refused = beat?.Refused ?? "";
            string refusal = refused.Length > 0 && refused == stored.Refused ? stored.Refusal : "";
            var status = PolicyStatus.Of(expected is null ? null : new GroupPolicyRef(group, expected.Hash, expected.SetUnixMs),
                beat?.InForce ?? "", refused, refusal, beat?.Received);
            hosts.Add(new HostPolicy(agent.AgentId, agent.Hostname, group, status.State, status.Differs, status.Expected, status.InForce,
                status.Refused, status.Refusal, beat?.Received));
        }

        var changes = history.Where(h => h.SetMs >= q.Request.FromUnixMs)
            .Select(h => new GroupPolicyAt(h.Group, h.Hash, h.SetMs, h.SetBy)).ToList();
        return new PolicySection
        {
            Groups = [.. current.Values.OrderBy(g => g.Group, StringComparer.Ordinal)],
            Hosts = hosts,
            Differing = [.. hosts.Where(h => h.Differs).Select(h => h.AgentId)],
            Changes = changes,
        };
    }
}
