namespace Sluice.Collector.Reports.Sections;

/// <summary>The baseline section (<see cref="ComplianceReport.Baseline"/>): each host's rules in force against a baseline rules file.</summary>
internal sealed class BaselineBuilder(ReportQuery q, BaselineRules baseline)
{
    /// <summary>Each host's rule lines in force (the set it reported last before the range ends) against the baseline.</summary>
    public async Task<BaselineSection> BuildAsync(CancellationToken ct)
    {
        await using var c = q.Command($"""
            SELECT agent, rules_hash, rules, last_seen_ms FROM agent_rules
            WHERE first_seen_ms < @to{q.AgentFilter()}
            """);
        var rows = await ReportSql.ReadAsync(c, r => (Agent: ReportSql.Long(r, 0), Hash: r.GetString(1), Rules: r.GetString(2), Seen: ReportSql.Long(r, 3)), ct);
        var latest = rows.GroupBy(x => x.Agent).ToDictionary(g => g.Key, g => g.OrderByDescending(x => x.Seen).ThenBy(x => x.Hash, StringComparer.Ordinal).First());
        var hosts = new List<HostBaseline>();
        foreach (var agent in q.AgentsInOrder)
        {
            if (!latest.TryGetValue(agent.Ref, out var set))
            {
                hosts.Add(new HostBaseline(agent.AgentId, agent.Hostname, "", Known: false, 0, baseline.Lines, []));
                continue;
            }
            var inForce = BaselineRules.SplitLines(set.Rules);
            var have = new HashSet<string>(inForce.Select(BaselineRules.Normalize), StringComparer.Ordinal);
            var want = new HashSet<string>(baseline.Lines.Select(BaselineRules.Normalize), StringComparer.Ordinal);
            hosts.Add(new HostBaseline(agent.AgentId, agent.Hostname, set.Hash, Known: true, inForce.Count,
                [.. baseline.Lines.Where(l => !have.Contains(BaselineRules.Normalize(l)))],
                [.. inForce.Where(l => !want.Contains(BaselineRules.Normalize(l)))]));
        }
        return new BaselineSection { BaselinePath = baseline.Path, BaselineRules = baseline.Lines, Hosts = hosts };
    }
}
