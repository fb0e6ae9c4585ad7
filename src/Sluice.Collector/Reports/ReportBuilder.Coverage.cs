using System.Globalization;
using System.Text;

namespace Sluice.Collector.Reports;

public sealed partial class ReportBuilder
{
    private const string LossSum = "kernel_lost + socket_overruns + serial_gaps + spool_dropped_events + reassembly_evicted";

    /// <summary>Per agent: the span its evidence covers and each silence longer than the threshold.</summary>
    internal sealed record Evidence(long First, long Last, List<(long From, long To)> Silences);

    private async Task<IReadOnlyList<HostCoverage>> CoverageAsync(Query q, IReadOnlyList<HourCount> perHour, CancellationToken ct)
    {
        var evidence = await EvidenceAsync(q, ct);
        var losses = await LossReportsAsync(q, ct);
        var rules = await RulesChangesAsync(q, ct);
        var batches = await CountPerAgentAsync(q, "SELECT agent, COUNT(*) FROM batches WHERE interval_start_ms >= @from AND interval_start_ms < @to" + q.AgentFilter() + " GROUP BY agent", ct);
        var beats = await CountPerAgentAsync(q, "SELECT agent, COUNT(*) FROM heartbeats WHERE time_ms >= @from AND time_ms < @to" + q.AgentFilter() + " GROUP BY agent", ct);
        var events = perHour.GroupBy(h => h.AgentId).ToDictionary(g => g.Key, g => g.Sum(h => h.Events), StringComparer.Ordinal);

        var result = new List<HostCoverage>(q.Agents.Count);
        foreach (var agent in q.Agents.Values.OrderBy(a => a.AgentId, StringComparer.Ordinal))
        {
            var intervals = Intervals(q.Request, evidence.GetValueOrDefault(agent.Ref));
            var lossList = losses.GetValueOrDefault(agent.Ref) ?? [];
            intervals = [.. intervals.Select(i => i with
            {
                Loss = lossList.Where(l => l.StartUnixMs >= i.StartUnixMs && (l.StartUnixMs < i.EndUnixMs || (i.EndUnixMs == q.Request.ToUnixMs && l.StartUnixMs < q.Request.ToUnixMs)))
                    .Aggregate(new LossCounts(), (sum, l) => sum + l.Loss),
            })];
            var total = lossList.Aggregate(new LossCounts(), (sum, l) => sum + l.Loss);
            bool continuous = intervals.All(i => i.Connected);
            result.Add(new HostCoverage
            {
                AgentId = agent.AgentId,
                Hostname = agent.Hostname,
                LastSeenUnixMs = agent.LastSeenUnixMs,
                Intervals = intervals,
                LossReports = lossList,
                Loss = total,
                RulesHashes = rules.GetValueOrDefault(agent.Ref) ?? [],
                Events = events.GetValueOrDefault(agent.AgentId),
                Batches = batches.GetValueOrDefault(agent.Ref),
                Heartbeats = beats.GetValueOrDefault(agent.Ref),
                Complete = continuous && total.Total == 0,
                Verdict = Verdict(intervals, lossList),
            });
        }
        return result;
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
    internal static List<CoverageInterval> Intervals(ReportRequest request, Evidence? evidence)
    {
        long from = request.FromUnixMs, to = request.ToUnixMs, silence = request.MaxSilenceMs;
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

    private static async Task<Dictionary<long, List<LossReport>>> LossReportsAsync(Query q, CancellationToken ct)
    {
        await using var c = q.Command($"""
            SELECT agent, interval_start_ms, interval_end_ms, kernel_lost, socket_overruns, serial_gaps, spool_dropped_events, reassembly_evicted
            FROM batches
            WHERE interval_start_ms >= @from AND interval_start_ms < @to AND {LossSum} > 0{q.AgentFilter()}
            """);
        var rows = await ReportSql.ReadAsync(c, r => (Agent: ReportSql.Long(r, 0), Report: new LossReport(ReportSql.Long(r, 1), ReportSql.Long(r, 2), new LossCounts
        {
            KernelLost = ReportSql.Long(r, 3),
            SocketOverruns = ReportSql.Long(r, 4),
            SerialGaps = ReportSql.Long(r, 5),
            SpoolDropped = ReportSql.Long(r, 6),
            ReassemblyEvicted = ReportSql.Long(r, 7),
        })), ct);
        return rows.GroupBy(x => x.Agent).ToDictionary(g => g.Key, g => g.Select(x => x.Report)
            .OrderBy(l => l.StartUnixMs).ThenBy(l => l.EndUnixMs).ThenBy(l => l.Loss.Total).ToList());
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

    /// <summary>"continuous, complete", or "gaps: " and each disconnected stretch and each loss with its times (UTC).</summary>
    internal static string Verdict(IReadOnlyList<CoverageInterval> intervals, IReadOnlyList<LossReport> losses)
    {
        var items = new List<string>();
        foreach (var i in intervals.Where(i => !i.Connected))
        {
            items.Add($"no agent {ReportTime.Short(i.StartUnixMs)} to {ReportTime.Short(i.EndUnixMs)} ({ReportTime.Duration(i.EndUnixMs - i.StartUnixMs)})");
        }
        foreach (var l in losses)
        {
            items.Add($"{l.Loss.Total} lost {ReportTime.Short(l.StartUnixMs)} to {ReportTime.Short(l.EndUnixMs)} ({LossKinds(l.Loss)})");
        }
        if (items.Count == 0)
        {
            return "continuous, complete";
        }
        var sb = new StringBuilder("gaps: ");
        sb.AppendJoin("; ", items.Take(MaxVerdictItems));
        if (items.Count > MaxVerdictItems)
        {
            sb.Append(CultureInfo.InvariantCulture, $"; and {items.Count - MaxVerdictItems} more");
        }
        return sb.ToString();
    }

    /// <summary>"kernel 3, overrun 1": the non-zero kinds.</summary>
    public static string LossKinds(LossCounts l)
    {
        var parts = new List<string>(5);
        if (l.KernelLost > 0) parts.Add($"kernel {l.KernelLost}");
        if (l.SocketOverruns > 0) parts.Add($"overrun {l.SocketOverruns}");
        if (l.SerialGaps > 0) parts.Add($"serial gap {l.SerialGaps}");
        if (l.SpoolDropped > 0) parts.Add($"spool drop {l.SpoolDropped}");
        if (l.ReassemblyEvicted > 0) parts.Add($"evicted {l.ReassemblyEvicted}");
        return parts.Count == 0 ? "none" : string.Join(", ", parts);
    }

    private static IReadOnlyList<HourLoss> LossPerHour(IReadOnlyList<HostCoverage> coverage) =>
    [
        .. coverage.SelectMany(h => h.LossReports
            .GroupBy(l => l.StartUnixMs / ReportTime.HourMs)
            .Select(g => new HourLoss(h.AgentId, g.Key * ReportTime.HourMs, g.Aggregate(new LossCounts(), (s, l) => s + l.Loss)))
            .OrderBy(x => x.HourUnixMs)),
    ];
}
