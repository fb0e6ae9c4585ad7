using System.Data.Common;

namespace Sluice.Collector.Reports.Sections;

/// <summary>
/// When each agent was connected: the evidence that it was running (heartbeats and batch intervals), and the
/// connected and disconnected stretches that evidence makes of the range.
/// </summary>
internal static class CoverageIntervals
{
    /// <summary>Per agent: the span its evidence covers and each silence longer than the threshold.</summary>
    internal sealed record Evidence(long First, long Last, List<(long From, long To)> Silences);

    // A batch interval is the time since the previous cut; one can start well before the range and still reach into it.
    private const long LongestBatchMs = 86_400_000;

    /// <summary>
    /// Heartbeats are points, batch intervals are spans; both say the agent was running. The
    /// silences longer than the threshold are found in SQL with a running maximum of span ends,
    /// so only the gaps come back, however many heartbeats there are.
    /// </summary>
    public static async Task<Dictionary<long, Evidence>> ReadEvidenceAsync(ReportQuery q, CancellationToken ct)
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

    private static void AddEvidenceBounds(DbCommand c, ReportRequest r)
    {
        ReportSql.Add(c, "lo", r.FromUnixMs - r.MaxSilenceMs);
        ReportSql.Add(c, "lo_batch", r.FromUnixMs - r.MaxSilenceMs - LongestBatchMs);
        ReportSql.Add(c, "hi", r.ToUnixMs + r.MaxSilenceMs);
    }

    /// <summary>Connected and disconnected stretches that tile [from, to).</summary>
    public static List<CoverageInterval> Of(ReportRequest request, Evidence? evidence) => Of(request, evidence, request.ToUnixMs);

    /// <summary>
    /// Connected and disconnected stretches that tile [from, <paramref name="coveredTo"/>): min(to, now), since
    /// no agent can have reported the future. None when the range starts after now.
    /// </summary>
    public static List<CoverageInterval> Of(ReportRequest request, Evidence? evidence, long coveredTo)
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
}
