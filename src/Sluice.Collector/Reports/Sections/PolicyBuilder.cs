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
/// <see cref="ReportQuery.CoveredTo"/>, found through the (agent, time_ms) index, every host in one query. The refusal's
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

        var beats = await LastHeartbeatsAsync(ct);
        var hosts = new List<HostPolicy>();
        foreach (var agent in q.AgentsInOrder)
        {
            var beat = beats.TryGetValue(agent.Ref, out var b) ? b : ((string Group, string InForce, string Refused, long Received)?)null;
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

    /// <summary>
    /// Each host's last heartbeat before <see cref="ReportQuery.CoveredTo"/>, for every host in one query: per host one
    /// probe of the (agent, time_ms) index for its latest time, then that row. (One query per host took 2.5-3 s over
    /// 10,000 hosts, nearly all of the fleet view.) Heartbeats of a host at the same time_ms: the one received last.
    /// </summary>
    private async Task<Dictionary<long, (string Group, string InForce, string Refused, long Received)>> LastHeartbeatsAsync(CancellationToken ct)
    {
        var result = new Dictionary<long, (string Group, string InForce, string Refused, long Received)>();
        if (q.Agents.Count == 0)
        {
            return result;
        }
        await using var c = q.Command($"""
            SELECT h.agent, h.group_name, h.policy_hash, h.policy_refused_hash, h.received_ms
            FROM (SELECT a.id, (SELECT MAX(x.time_ms) FROM heartbeats x WHERE x.agent = a.id AND x.time_ms < @covered) AS t
                  FROM agents a WHERE {q.AgentsIn().Replace("agent IN", "a.id IN", StringComparison.Ordinal)}) m
            JOIN heartbeats h ON h.agent = m.id AND h.time_ms = m.t
            """);
        ReportSql.Add(c, "covered", q.CoveredTo);
        var rows = await ReportSql.ReadAsync(c, r => (Agent: ReportSql.Long(r, 0), Beat: (Group: r.GetString(1), InForce: r.GetString(2), Refused: r.GetString(3), Received: ReportSql.Long(r, 4))), ct);
        foreach (var (agent, beat) in rows)
        {
            if (!result.TryGetValue(agent, out var seen) || beat.Received > seen.Received)
            {
                result[agent] = beat;
            }
        }
        return result;
    }
}
