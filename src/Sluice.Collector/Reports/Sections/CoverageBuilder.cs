using Sluice.Collector.Storage;

namespace Sluice.Collector.Reports.Sections;

/// <summary>
/// The coverage section (<see cref="ComplianceReport.Coverage"/>): per host, when its agent was connected, what it
/// lost, how its batches were delivered, its rules hashes, and the verdict on all of that.
/// </summary>
/// <param name="deliveryFacts">Each agent's delivery facts (the store's own, or a test's).</param>
/// <param name="eventsPerHour">The events chart, whose sums are each host's events.</param>
internal sealed class CoverageBuilder(ReportQuery q, DeliveryFactsReader deliveryFacts, IReadOnlyList<HourCount> eventsPerHour)
{
    public async Task<IReadOnlyList<HostCoverage>> BuildAsync(CancellationToken ct)
    {
        var evidence = await CoverageIntervals.ReadEvidenceAsync(q, ct);
        var losses = await LossReportsAsync(ct);
        var batches = await BatchTotalsAsync(ct);
        var rules = await RulesChangesAsync(ct);
        var beats = await HeartbeatsPerAgentAsync(ct);
        var refusals = await RefusalsByStatusAsync(ct);
        var delivery = await DeliveryFactsAsync(ct);
        var events = eventsPerHour.GroupBy(h => h.AgentId).ToDictionary(g => g.Key, g => g.Sum(h => h.Events), StringComparer.Ordinal);

        var result = new List<HostCoverage>(q.Agents.Count);
        foreach (var agent in q.AgentsInOrder)
        {
            var stretches = CoverageIntervals.Of(q.Request, evidence.GetValueOrDefault(agent.Ref), q.CoveredTo);
            var lossList = losses.GetValueOrDefault(agent.Ref) ?? [];
            // Each loss report in the stretch where its batch starts; the last stretch takes the rest of the range.
            List<CoverageInterval> intervals = [.. stretches.Select((i, n) => i with
            {
                Loss = lossList.Where(l => l.StartUnixMs >= i.StartUnixMs && (l.StartUnixMs < i.EndUnixMs || n == stretches.Count - 1))
                    .Aggregate(new LossCounts(), (sum, l) => sum + l.Loss),
            })];
            var (batchCount, total) = batches.GetValueOrDefault(agent.Ref, (0, new LossCounts()));
            var hostDelivery = new HostDelivery
            {
                Facts = delivery.GetValueOrDefault(agent.AgentId) ?? new DeliveryFacts { AgentId = agent.AgentId },
                RefusedByStatus = refusals.GetValueOrDefault(agent.Ref) ?? [],
            };
            bool continuous = intervals.Count > 0 && intervals.All(i => i.Connected);
            result.Add(new HostCoverage
            {
                AgentId = agent.AgentId,
                Hostname = agent.Hostname,
                LastSeenUnixMs = agent.LastSeenUnixMs,
                Intervals = intervals,
                LossReports = lossList,
                Loss = total,
                Delivery = hostDelivery,
                RulesHashes = rules.GetValueOrDefault(agent.Ref) ?? [],
                Events = events.GetValueOrDefault(agent.AgentId),
                Batches = batchCount,
                Heartbeats = beats.GetValueOrDefault(agent.Ref),
                // The rule of the design: continuous, no loss of any kind, no delivery problem. Never otherwise.
                // Nor over pruned time: what was there is gone, so nothing shows it was complete.
                Complete = continuous && !total.AnyLoss && !hostDelivery.AnyProblem && q.PrunedBefore is null,
                Verdict = CoverageVerdict.Of(intervals, lossList, total, hostDelivery, nothingCovered: q.CoveredTo <= q.Request.FromUnixMs,
                    prunedBefore: q.PrunedBefore),
            });
        }
        return result;
    }

    /// <summary>The loss chart (<see cref="ComplianceReport.LossOverTime"/>): each host's loss reports summed per UTC hour.</summary>
    public static IReadOnlyList<HourLoss> LossOverTime(IReadOnlyList<HostCoverage> coverage) =>
    [
        .. coverage.SelectMany(h => h.LossReports
            .GroupBy(l => l.StartUnixMs / ReportTime.HourMs)
            .Select(g => new HourLoss(h.AgentId, g.Key * ReportTime.HourMs, g.Aggregate(new LossCounts(), (s, l) => s + l.Loss)))
            .OrderBy(x => x.HourUnixMs)),
    ];

    /// <summary>The store's delivery facts for the range, by agent id.</summary>
    private async Task<Dictionary<string, DeliveryFacts>> DeliveryFactsAsync(CancellationToken ct)
    {
        var facts = await deliveryFacts(new DeliveryQuery(q.Request.AgentId, q.Request.FromUnixMs, q.Request.ToUnixMs), ct);
        var byAgent = new Dictionary<string, DeliveryFacts>(StringComparer.Ordinal);
        foreach (var f in facts)
        {
            byAgent.TryAdd(f.AgentId, f);
        }
        return byAgent;
    }

    /// <summary>Recorded refusals first refused in the range, per agent and status (ordinal order of the status).</summary>
    private async Task<Dictionary<long, List<RefusalCount>>> RefusalsByStatusAsync(CancellationToken ct)
    {
        await using var c = q.Command($"""
            SELECT agent, status, COUNT(*), {ReportSql.SplitSum("event_count")} FROM refusals
            WHERE first_ms >= @from AND first_ms < @to{q.AgentFilter()}
            GROUP BY agent, status
            """);
        var rows = await ReportSql.ReadAsync(c, r => (Agent: ReportSql.Long(r, 0), Count: new RefusalCount(r.GetString(1), ReportSql.Long(r, 2), ReportSql.SplitSum(r, 3))), ct);
        return rows.Where(x => q.Agents.ContainsKey(x.Agent)).GroupBy(x => x.Agent)
            .ToDictionary(g => g.Key, g => g.Select(x => x.Count).OrderBy(x => x.Status, StringComparer.Ordinal).ToList());
    }

    /// <summary>Per agent: its batches in the range, and every loss counter summed over them, exactly and without overflow.</summary>
    private async Task<Dictionary<long, (long Batches, LossCounts Loss)>> BatchTotalsAsync(CancellationToken ct)
    {
        await using var c = q.Command($"""
            SELECT agent, COUNT(*), {string.Join(", ", LossColumns.Names.Select(n => ReportSql.SplitSum(n)))}
            FROM batches
            WHERE interval_start_ms >= @from AND interval_start_ms < @to{q.AgentFilter()}
            GROUP BY agent
            """);
        var rows = await ReportSql.ReadAsync(c, r => (Agent: ReportSql.Long(r, 0), Batches: ReportSql.Long(r, 1),
            Loss: LossCounts.From(LossColumns.Totals(i => ReportSql.SplitSum(r, 2 + 2 * i)))), ct);
        return rows.ToDictionary(x => x.Agent, x => (x.Batches, x.Loss));
    }

    /// <summary>The batches that reported loss (<see cref="LossTotals.AnyLoss"/>), with every counter, per agent in time order.</summary>
    private async Task<Dictionary<long, List<LossReport>>> LossReportsAsync(CancellationToken ct)
    {
        // Compared kind by kind, never added up: a sum in SQL could overflow (an error in PostgreSQL).
        await using var c = q.Command($"""
            SELECT agent, interval_start_ms, interval_end_ms, {LossColumns.List()}
            FROM batches
            WHERE interval_start_ms >= @from AND interval_start_ms < @to AND {ReportLoss.AnyLossCondition()}{q.AgentFilter()}
            """);
        var rows = await ReportSql.ReadAsync(c, r => (Agent: ReportSql.Long(r, 0), Report: new LossReport(ReportSql.Long(r, 1), ReportSql.Long(r, 2),
            LossCounts.From(LossColumns.Totals(i => ReportSql.Long(r, 3 + i))))), ct);
        return rows.GroupBy(x => x.Agent).ToDictionary(g => g.Key, g => g.Select(x => x.Report)
            .OrderBy(l => l.StartUnixMs).ThenBy(l => l.EndUnixMs).ThenBy(l => l.Loss.Total).ThenBy(l => l.Loss.BatchesLost)
            .ThenBy(l => string.Join(",", ReportLoss.Values(l.Loss)), StringComparer.Ordinal).ToList());
    }

    private async Task<Dictionary<long, long>> HeartbeatsPerAgentAsync(CancellationToken ct)
    {
        await using var c = q.Command("SELECT agent, COUNT(*) FROM heartbeats WHERE time_ms >= @from AND time_ms < @to" + q.AgentFilter() + " GROUP BY agent");
        var rows = await ReportSql.ReadAsync(c, r => (ReportSql.Long(r, 0), ReportSql.Long(r, 1)), ct);
        return rows.ToDictionary(x => x.Item1, x => x.Item2);
    }

    private static string RulesReports(string agentFilter) => $"""
        SELECT agent, time_ms AS t, rules_hash FROM heartbeats
        WHERE time_ms >= @from AND time_ms < @to AND rules_hash <> ''{agentFilter}
        UNION ALL
        SELECT agent, interval_end_ms AS t, rules_hash FROM batches
        WHERE interval_start_ms >= @from AND interval_start_ms < @to AND rules_hash <> ''{agentFilter}
        """;

    /// <summary>The first rules hash each agent reported in the range, then each change (heartbeats and batches, by time).</summary>
    /// <remarks>
    /// Hashes change rarely: first each hash's first and last report per agent (a small GROUP BY).
    /// When an agent's hashes follow one another without overlapping, those are its changes. Only an
    /// agent that went back to an earlier hash needs the report-by-report walk.
    /// </remarks>
    private async Task<Dictionary<long, List<RulesChange>>> RulesChangesAsync(CancellationToken ct)
    {
        List<(long Agent, string Hash, long First, long Last)> spans;
        await using (var c = q.Command($"SELECT agent, rules_hash, MIN(t), MAX(t) FROM ({RulesReports(q.AgentFilter())}) x GROUP BY agent, rules_hash"))
        {
            spans = await ReportSql.ReadAsync(c, r => (ReportSql.Long(r, 0), r.GetString(1), ReportSql.Long(r, 2), ReportSql.Long(r, 3)), ct);
        }
        var result = new Dictionary<long, List<RulesChange>>();
        foreach (var g in spans.GroupBy(x => x.Agent))
        {
            var ordered = g.OrderBy(x => x.First).ThenBy(x => x.Hash, StringComparer.Ordinal).ToList();
            bool simple = true;
            for (int i = 1; i < ordered.Count; i++)
            {
                simple &= ordered[i].First > ordered[i - 1].Last;
            }
            result[g.Key] = simple
                ? [.. ordered.Select(x => new RulesChange(x.First, x.Hash))]
                : await RulesWalkAsync(g.Key, ct);
        }
        return result;
    }

    private async Task<List<RulesChange>> RulesWalkAsync(long agent, CancellationToken ct)
    {
        await using var c = q.Command($"""
            SELECT t, rules_hash FROM (
                SELECT t, rules_hash, LAG(rules_hash) OVER (ORDER BY t, rules_hash{q.Collation}) AS prev
                FROM ({RulesReports(" AND agent = @walk_agent")}) x
            ) y
            WHERE prev IS NULL OR prev <> rules_hash
            """);
        ReportSql.Add(c, "walk_agent", agent);
        var rows = await ReportSql.ReadAsync(c, r => new RulesChange(ReportSql.Long(r, 0), r.GetString(1)), ct);
        return [.. rows.OrderBy(x => x.AtUnixMs).ThenBy(x => x.RulesHash, StringComparer.Ordinal)];
    }
}
