using System.Globalization;
using System.Text;

namespace Sluice.Collector.Reports.Sections;

/// <summary>A host's verdict (<see cref="HostCoverage.Verdict"/>): "continuous, complete", or "gaps: " and what is wrong.</summary>
internal static class CoverageVerdict
{
    private const int MaxItems = 12;
    private const int MaxRanges = 5;

    /// <summary>"continuous, complete", or "gaps: " and each disconnected stretch and each loss with its times (UTC).</summary>
    public static string Of(IReadOnlyList<CoverageInterval> intervals, IReadOnlyList<LossReport> losses) =>
        Of(intervals, losses, null, null);

    /// <summary>
    /// "continuous, complete", or "gaps: " naming what is wrong: first what concerns the whole range (nothing covered,
    /// delivery gaps, refusals, interleaving; never left out), then each disconnected stretch and each loss with its
    /// times (UTC), the first <see cref="MaxItems"/> of those.
    /// </summary>
    /// <param name="prunedBefore">Set when the range starts before the retained range: events before it were pruned.</param>
    public static string Of(IReadOnlyList<CoverageInterval> intervals, IReadOnlyList<LossReport> losses, LossCounts? total, HostDelivery? delivery,
        bool nothingCovered = false, long? prunedBefore = null)
    {
        var always = new List<string>();
        if (nothingCovered)
        {
            always.Add("nothing covered: the range starts after the report was made");
        }
        if (prunedBefore is long pruned)
        {
            always.Add($"pruned: events before {ReportTime.Short(pruned)} were deleted by retention (sluice-collector prune), so the range before it is not covered");
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
            items.Add($"{HowMuch(l.Loss)} {ReportTime.Short(l.StartUnixMs)} to {ReportTime.Short(l.EndUnixMs)} ({ReportLoss.Describe(l.Loss)})");
        }
        if (losses.Count == 0 && total is { AnyLoss: true })
        {
            items.Add($"{HowMuch(total)} ({ReportLoss.Describe(total)})");
        }
        if (always.Count == 0 && items.Count == 0)
        {
            return "continuous, complete";
        }
        var sb = new StringBuilder("gaps: ");
        sb.AppendJoin("; ", always.Concat(items.Take(MaxItems)));
        if (items.Count > MaxItems)
        {
            sb.Append(CultureInfo.InvariantCulture, $"; and {items.Count - MaxItems} more");
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
                : "; missing " + string.Join(", ", d.Gaps.Take(MaxRanges).Select(Range)) + (d.Gaps.Count > MaxRanges ? ", ..." : "");
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
}
