using System.Globalization;
using System.Text;
using Sluice.Collector.Storage;

namespace Sluice.Collector.Reports;

public sealed partial class ReportBuilder
{
    /// <summary>Per agent: the span its evidence covers and each silence longer than the threshold.</summary>
    internal sealed record Evidence(long First, long Last, List<(long From, long To)> Silences);

    private async Task<IReadOnlyList<HostCoverage>> CoverageAsync(Query q, IReadOnlyList<HourCount> perHour, CancellationToken ct)
    {
        var evidence = await EvidenceAsync(q, ct);
        var losses = await LossReportsAsync(q, ct);
        var batches = await BatchTotalsAsync(q, ct);
        var rules = await RulesChangesAsync(q, ct);
        var beats = await CountPerAgentAsync(q, "SELECT agent, COUNT(*) FROM heartbeats WHERE time_ms >= @from AND time_ms < @to" + q.AgentFilter() + " GROUP BY agent", ct);
        var refusals = await RefusalsByStatusAsync(q, ct);
        var delivery = await DeliveryFactsAsync(q, ct);
        var events = perHour.GroupBy(h => h.AgentId).ToDictionary(g => g.Key, g => g.Sum(h => h.Events), StringComparer.Ordinal);

        var result = new List<HostCoverage>(q.Agents.Count);
        foreach (var agent in q.Agents.Values.OrderBy(a => a.AgentId, StringComparer.Ordinal))
        {
            var stretches = Intervals(q.Request, evidence.GetValueOrDefault(agent.Ref), q.CoveredTo);
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
                Complete = continuous && !total.AnyLoss && !hostDelivery.AnyProblem,
                Verdict = Verdict(intervals, lossList, total, hostDelivery, nothingCovered: q.CoveredTo <= q.Request.FromUnixMs),
            });
        }
        return result;
    }

    /// <summary>The store's delivery facts for the range, by agent id.</summary>
    private async Task<Dictionary<string, DeliveryFacts>> DeliveryFactsAsync(Query q, CancellationToken ct)
    {
        var facts = await _deliveryFacts(new DeliveryQuery(q.Request.AgentId, q.Request.FromUnixMs, q.Request.ToUnixMs), ct);
        var byAgent = new Dictionary<string, DeliveryFacts>(StringComparer.Ordinal);
        foreach (var f in facts)
        {
            byAgent.TryAdd(f.AgentId, f);
        }
        return byAgent;
    }

    /// <summary>Recorded refusals first refused in the range, per agent and status (ordinal order of the status).</summary>
    private static async Task<Dictionary<long, List<RefusalCount>>> RefusalsByStatusAsync(Query q, CancellationToken ct)
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
    private static async Task<Dictionary<long, (long Batches, LossCounts Loss)>> BatchTotalsAsync(Query q, CancellationToken ct)
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

    /// <summary>
    /// Heartbeats are points, batch intervals are spans; both say the agent was running. The
    /// silences longer than the threshold are found in SQL with a running maximum of span ends,
    /// so only the gaps come back, however many heartbeats there are.
    /// </summary>
    private static async Task<Dictionary<long, Evidence>> EvidenceAsync(Query q, CancellationToken ct)
    {
        // Evidence just outside the range says whether the agent was up at its edges.
        string spans = $"""
            SELECT agent, time_ms AS s, time_ms AS e FROM heartbeats
            WHERE time_ms >= @lo AND time_ms <= @hi{q.AgentFilter()}
            UNION ALL
            SELECT agent, interval_start_ms AS s, interval_end_ms AS e FROM batches
            WHERE interval_start_ms >= @lo_batch AND interval_start_ms <= @hi AND interval_end_ms >= @lo{q.AgentFilter()}
            """;
        var result = new Dictionary<long, Evidence>();
        await using (var c = q.Command($"SELECT agent, MIN(s), MAX(e) FROM ({spans}) x GROUP BY agent"))
        {
            AddEvidenceBounds(c, q.Request);
            foreach (var (agent, first, last) in await ReportSql.ReadAsync(c, r => (ReportSql.Long(r, 0), ReportSql.Long(r, 1), ReportSql.Long(r, 2)), ct))
            {
                result[agent] = new Evidence(first, last, []);
            }
        }
        await using (var c = q.Command($"""
            SELECT agent, prev_end, s FROM (
                SELECT agent, s, MAX(e) OVER (PARTITION BY agent ORDER BY s, e ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end
                FROM ({spans}) x
            ) y
            WHERE prev_end IS NOT NULL AND s - prev_end > @silence
            """))
        {
            AddEvidenceBounds(c, q.Request);
            ReportSql.Add(c, "silence", q.Request.MaxSilenceMs);
            foreach (var (agent, from, to) in await ReportSql.ReadAsync(c, r => (ReportSql.Long(r, 0), ReportSql.Long(r, 1), ReportSql.Long(r, 2)), ct))
            {
                if (result.TryGetValue(agent, out var e))
                {
                    e.Silences.Add((from, to));
                }
            }
        }
        foreach (var e in result.Values)
        {
            e.Silences.Sort();
        }
        return result;
    }

    // A batch interval is the time since the previous cut; one can start well before the range and still reach into it.
    private const long LongestBatchMs = 86_400_000;

    private static void AddEvidenceBounds(System.Data.Common.DbCommand c, ReportRequest r)
    {
        ReportSql.Add(c, "lo", r.FromUnixMs - r.MaxSilenceMs);
        ReportSql.Add(c, "lo_batch", r.FromUnixMs - r.MaxSilenceMs - LongestBatchMs);
        ReportSql.Add(c, "hi", r.ToUnixMs + r.MaxSilenceMs);
    }

    /// <summary>Connected and disconnected stretches that tile [from, to).</summary>
    internal static List<CoverageInterval> Intervals(ReportRequest request, Evidence? evidence) => Intervals(request, evidence, request.ToUnixMs);

    /// <summary>
    /// Connected and disconnected stretches that tile [from, <paramref name="coveredTo"/>): min(to, now), since
    /// no agent can have reported the future. None when the range starts after now.
    /// </summary>
    internal static List<CoverageInterval> Intervals(ReportRequest request, Evidence? evidence, long coveredTo)
    {
        long from = request.FromUnixMs, to = Math.Min(request.ToUnixMs, coveredTo), silence = request.MaxSilenceMs;
        var list = new List<CoverageInterval>();
        void Add(long start, long end, bool connected)
        {
            start = Math.Max(start, from);
            end = Math.Min(end, to);
            if (end <= start)
            {
                return;
            }
            if (list.Count > 0 && list[^1].Connected == connected && list[^1].EndUnixMs == start)
            {
                list[^1] = list[^1] with { EndUnixMs = end };
                return;
            }
            list.Add(new CoverageInterval { StartUnixMs = start, EndUnixMs = end, Connected = connected });
        }
        if (evidence is null)
        {
            Add(from, to, connected: false);
            return list;
        }
        long cursor = from;
        if (evidence.First - from > silence)
        {
            Add(from, evidence.First, connected: false);
            cursor = evidence.First;
        }
        foreach (var (quietFrom, quietTo) in evidence.Silences)
        {
            Add(cursor, quietFrom, connected: true);
            Add(quietFrom, quietTo, connected: false);
            cursor = Math.Max(cursor, quietTo);
        }
        if (to - evidence.Last > silence)
        {
            Add(cursor, evidence.Last, connected: true);
            Add(Math.Max(cursor, evidence.Last), to, connected: false);
        }
        else
        {
            Add(cursor, to, connected: true);
        }
        return list;
    }

    /// <summary>The batches that reported loss (<see cref="LossTotals.AnyLoss"/>), with every counter, per agent in time order.</summary>
    private static async Task<Dictionary<long, List<LossReport>>> LossReportsAsync(Query q, CancellationToken ct)
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

    private static string RulesReports(Query q, string agentFilter) => $"""
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
    private static async Task<Dictionary<long, List<RulesChange>>> RulesChangesAsync(Query q, CancellationToken ct)
    {
        List<(long Agent, string Hash, long First, long Last)> spans;
        await using (var c = q.Command($"SELECT agent, rules_hash, MIN(t), MAX(t) FROM ({RulesReports(q, q.AgentFilter())}) x GROUP BY agent, rules_hash"))
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
                : await RulesWalkAsync(q, g.Key, ct);
        }
        return result;
    }

    private static async Task<List<RulesChange>> RulesWalkAsync(Query q, long agent, CancellationToken ct)
    {
        await using var c = q.Command($"""
            SELECT t, rules_hash FROM (
                SELECT t, rules_hash, LAG(rules_hash) OVER (ORDER BY t, rules_hash{q.Collation}) AS prev
                FROM ({RulesReports(q, " AND agent = @walk_agent")}) x
            ) y
            WHERE prev IS NULL OR prev <> rules_hash
            """);
        ReportSql.Add(c, "walk_agent", agent);
        var rows = await ReportSql.ReadAsync(c, r => new RulesChange(ReportSql.Long(r, 0), r.GetString(1)), ct);
        return [.. rows.OrderBy(x => x.AtUnixMs).ThenBy(x => x.RulesHash, StringComparer.Ordinal)];
    }

    private static async Task<Dictionary<long, long>> CountPerAgentAsync(Query q, string sql, CancellationToken ct)
    {
        await using var c = q.Command(sql);
        var rows = await ReportSql.ReadAsync(c, r => (ReportSql.Long(r, 0), ReportSql.Long(r, 1)), ct);
        return rows.ToDictionary(x => x.Item1, x => x.Item2);
    }

    private const int MaxVerdictItems = 12;
    private const int MaxVerdictRanges = 5;

    /// <summary>"continuous, complete", or "gaps: " and each disconnected stretch and each loss with its times (UTC).</summary>
    internal static string Verdict(IReadOnlyList<CoverageInterval> intervals, IReadOnlyList<LossReport> losses) =>
        Verdict(intervals, losses, null, null);

    /// <summary>
    /// "continuous, complete", or "gaps: " naming what is wrong: first what concerns the whole range (nothing covered,
    /// delivery gaps, refusals, interleaving; never left out), then each disconnected stretch and each loss with its
    /// times (UTC), the first <see cref="MaxVerdictItems"/> of those.
    /// </summary>
    internal static string Verdict(IReadOnlyList<CoverageInterval> intervals, IReadOnlyList<LossReport> losses, LossCounts? total, HostDelivery? delivery, bool nothingCovered = false)
    {
        var always = new List<string>();
        if (nothingCovered)
        {
            always.Add("nothing covered: the range starts after the report was made");
        }
        if (delivery is not null)
        {
            always.AddRange(DeliveryItems(delivery));
        }
        var items = new List<string>();
        foreach (var i in intervals.Where(i => !i.Connected))
        {
            items.Add($"no agent {ReportTime.Short(i.StartUnixMs)} to {ReportTime.Short(i.EndUnixMs)} ({ReportTime.Duration(i.EndUnixMs - i.StartUnixMs)})");
        }
        foreach (var l in losses)
        {
            items.Add($"{HowMuch(l.Loss)} {ReportTime.Short(l.StartUnixMs)} to {ReportTime.Short(l.EndUnixMs)} ({LossKinds(l.Loss)})");
        }
        if (losses.Count == 0 && total is { AnyLoss: true })
        {
            items.Add($"{HowMuch(total)} ({LossKinds(total)})");
        }
        if (always.Count == 0 && items.Count == 0)
        {
            return "continuous, complete";
        }
        var sb = new StringBuilder("gaps: ");
        sb.AppendJoin("; ", always.Concat(items.Take(MaxVerdictItems)));
        if (items.Count > MaxVerdictItems)
        {
            sb.Append(CultureInfo.InvariantCulture, $"; and {items.Count - MaxVerdictItems} more");
        }
        return sb.ToString();
    }

    /// <summary>"4 lost", "2 batches lost", "4 lost and 2 batches lost", or "loss" (records truncated, say).</summary>
    private static string HowMuch(LossCounts l) => (l.Total, l.BatchesLost) switch
    {
        ( > 0, > 0) => $"{l.Total} lost and {l.BatchesLost} batches lost",
        ( > 0, _) => $"{l.Total} lost",
        (_, > 0) => $"{l.BatchesLost} batches lost",
        _ => "loss",
    };

    /// <summary>What the batch keys say is wrong, each named with its numbers.</summary>
    private static IEnumerable<string> DeliveryItems(HostDelivery d)
    {
        bool named = false;
        if (d.DeliveryGaps > 0)
        {
            named = true;
            string ranges = d.Gaps.Count == 0 ? ""
                : "; missing " + string.Join(", ", d.Gaps.Take(MaxVerdictRanges).Select(Range)) + (d.Gaps.Count > MaxVerdictRanges ? ", ..." : "");
            yield return $"{d.DeliveryGaps} batches never received (delivery gaps: {d.MissingSequences} sequences missing, {d.ExplainedByAgent} of them reported dropped by the agent{ranges})";
        }
        if (d.RefusedBatches > 0)
        {
            named = true;
            string conflicts = d.Conflicts > 0 ? $", {d.Conflicts} of them conflicts: key taken by other content" : "";
            string byStatus = d.RefusedByStatus.Count == 0 ? ""
                : "; " + string.Join(", ", d.RefusedByStatus.Select(r => $"{r.Status} {r.Batches} ({r.Events} events)"));
            yield return $"{d.RefusedBatches} batches refused ({d.RefusedEvents} events{conflicts}{byStatus})";
        }
        if (d.RefusalsUnrecorded > 0)
        {
            named = true;
            yield return $"{d.RefusalsUnrecorded} more refusals not recorded (the agent's refusal records are full)";
        }
        if (d.InterleavedEpochs)
        {
            named = true;
            yield return $"epochs interleave: two spools send as this agent ({d.Epochs} epochs)";
        }
        if (d.InterleavedBootIds)
        {
            named = true;
            yield return "boot ids interleave: two machines send as this agent (a cloned agent id)";
        }
        if (d.AnyProblem && !named)
        {
            yield return "delivery problem";
        }
    }

    /// <summary>"0123abcd 5-7": the epoch's first 8 digits (when it has one) and the sequences.</summary>
    private static string Range(DeliveryGapRange g)
    {
        string epoch = g.Epoch.Length == 0 ? "" : g.Epoch[..Math.Min(8, g.Epoch.Length)] + " ";
        return g.From == g.To
            ? string.Create(CultureInfo.InvariantCulture, $"{epoch}{g.From}")
            : string.Create(CultureInfo.InvariantCulture, $"{epoch}{g.From}-{g.To}");
    }

    /// <summary>"kernel 3, overrun 1": the non-zero loss kinds.</summary>
    public static string LossKinds(LossCounts l) => ReportLoss.Describe(l);

    private static IReadOnlyList<HourLoss> LossPerHour(IReadOnlyList<HostCoverage> coverage) =>
    [
        .. coverage.SelectMany(h => h.LossReports
            .GroupBy(l => l.StartUnixMs / ReportTime.HourMs)
            .Select(g => new HourLoss(h.AgentId, g.Key * ReportTime.HourMs, g.Aggregate(new LossCounts(), (s, l) => s + l.Loss)))
            .OrderBy(x => x.HourUnixMs)),
    ];
}
