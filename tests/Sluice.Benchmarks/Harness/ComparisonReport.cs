using System.Globalization;
using System.Text;

namespace Sluice.Benchmarks.Harness;

/// <summary>Medians of the runs, the Sluice ratios, the goals, and every trial, as Markdown.</summary>
public static class ComparisonReport
{
    public const string Bare = "bare reader";
    public const string AuditdRaw = "auditd RAW";
    public const string Laurel = "auditd + laurel";
    public const string Sluice = "Sluice";

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>The median; the mean of the middle two for an even count; null for none.</summary>
    public static double? Median(IEnumerable<double?> values)
    {
        var sorted = values.Where(v => v is not null && double.IsFinite(v.Value)).Select(v => v!.Value).Order().ToArray();
        if (sorted.Length == 0)
        {
            return null;
        }
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    /// <summary>a / b, or null when either is missing or b is 0.</summary>
    public static double? Ratio(double? a, double? b) => a is double x && b is double y && y != 0 ? x / y : null;

    /// <summary>The medians of one consumer at one rate, over the runs that completed.</summary>
    public sealed record Row(int Rate, string Consumer, int Runs, int Failed,
        double? Offered, double? AchievedRate, double? HostImpact, double? Delivered, double? DeliveredFraction,
        double? KernelLost, double? Uncounted, double? CpuPerEventUs, double? PeakRssMb, double? WaitActual,
        double? CollectorCpuPerEventUs, double? CollectorPeakRssMb, double? BacklogLimitAtEnd, double? DeliveredPerSecond, double? KauditdCpuPerEventUs);

    public static IReadOnlyList<Row> Rows(IReadOnlyList<TrialResult> trials)
    {
        var rows = new List<Row>();
        foreach (var group in trials.GroupBy(t => (t.Rate, t.Consumer)))
        {
            var ok = group.Where(t => t.Error is null).ToList();
            double? M(Func<TrialResult, double?> f) => Median(ok.Select(f));
            rows.Add(new Row(group.Key.Rate, group.Key.Consumer, ok.Count, group.Count() - ok.Count,
                M(t => t.Offered), M(t => t.AchievedRate), M(t => t.HostImpact), M(t => t.Delivered), M(t => t.DeliveredFraction),
                M(t => t.KernelLost), M(t => t.UncountedLoss), M(t => t.CpuPerEventUs), M(t => t.ConsumerPeakRssKb / 1024.0), M(t => t.WaitActual),
                M(t => t.CollectorCpuPerEventUs), M(t => t.CollectorPeakRssKb / 1024.0), M(t => t.BacklogLimitAtEnd),
                M(t => t.GeneratorSeconds > 0 ? t.Delivered / t.GeneratorSeconds : null), M(t => t.KauditdCpuPerEventUs)));
        }
        return rows;
    }

    public static string Markdown(IReadOnlyList<TrialResult> trials, string header)
    {
        var rows = Rows(trials);
        var rates = trials.Select(t => t.Rate).Distinct().OrderBy(r => r == 0 ? int.MaxValue : r).ToList();
        var order = new[] { Bare, AuditdRaw, Laurel, Sluice };
        var sb = new StringBuilder();
        sb.AppendLine(header).AppendLine();

        sb.AppendLine("Medians of the runs. *offered*: events the generator caused; *host impact*: the generator's rate against its rate with audit off; "
            + "*uncounted*: offered − delivered − kernel lost; *CPU/event*: the consumer's utime+stime from the start of the load to its last delivered event, per delivered event "
            + "(auditd + laurel: both processes summed; Sluice: the agent, the collector in its own column); *kauditd*: the kernel thread that sends records to the consumer, same window; "
            + "*peak RSS*: VmHWM (summed for auditd + laurel); *wait Δ*: growth of `backlog_wait_time_actual`; "
            + "*kernel lost* counts records the kernel could not queue (about one per dropped event), so *uncounted* can be slightly negative.")
            .AppendLine();
        sb.AppendLine("| rate | consumer | runs | offered | generator rate | host impact | delivered | delivered % | kernel lost | uncounted | CPU/event µs | peak RSS MB | wait Δ | collector CPU/event µs | collector RSS MB | kauditd CPU/event µs | backlog_limit at end |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (int rate in rates)
        {
            foreach (var row in rows.Where(r => r.Rate == rate).OrderBy(r => Array.IndexOf(order, r.Consumer)))
            {
                string runs = row.Failed > 0 ? $"{row.Runs} ({row.Failed} failed)" : row.Runs.ToString(Inv);
                sb.AppendLine($"| {CompareOptions.RateName(rate)} | {row.Consumer} | {runs} | {N(row.Offered)} | {N(row.AchievedRate)}/s | {P(row.HostImpact)} | "
                    + $"{N(row.Delivered)} | {P(row.DeliveredFraction, 2)} | {N(row.KernelLost)} | {N(row.Uncounted)} | {F(row.CpuPerEventUs)} | {F(row.PeakRssMb, 0)} | "
                    + $"{N(row.WaitActual)} | {F(row.CollectorCpuPerEventUs)} | {F(row.CollectorPeakRssMb, 0)} | {F(row.KauditdCpuPerEventUs)} | {N(row.BacklogLimitAtEnd)} |");
            }
        }
        sb.AppendLine();

        sb.AppendLine("Ratios of the medians (below 1: Sluice uses less; for delivered, above 1: Sluice delivers more).").AppendLine();
        sb.AppendLine("| rate | CPU/event Sluice/auditd | CPU/event Sluice/laurel | CPU/event (agent + collector)/auditd | peak RSS Sluice/auditd | peak RSS Sluice/laurel | delivered Sluice/auditd | delivered Sluice/laurel | delivered Sluice/bare |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (int rate in rates)
        {
            Row? Get(string c) => rows.FirstOrDefault(r => r.Rate == rate && r.Consumer == c);
            var (s, a, l, b) = (Get(Sluice), Get(AuditdRaw), Get(Laurel), Get(Bare));
            double? total = s?.CpuPerEventUs is double x ? x + (s.CollectorCpuPerEventUs ?? 0) : null;
            sb.AppendLine($"| {CompareOptions.RateName(rate)} | {F(Ratio(s?.CpuPerEventUs, a?.CpuPerEventUs))} | {F(Ratio(s?.CpuPerEventUs, l?.CpuPerEventUs))} | "
                + $"{F(Ratio(total, a?.CpuPerEventUs))} | {F(Ratio(s?.PeakRssMb, a?.PeakRssMb))} | {F(Ratio(s?.PeakRssMb, l?.PeakRssMb))} | "
                + $"{F(Ratio(s?.DeliveredPerSecond, a?.DeliveredPerSecond), 3)} | {F(Ratio(s?.DeliveredPerSecond, l?.DeliveredPerSecond), 3)} | {F(Ratio(s?.DeliveredPerSecond, b?.DeliveredPerSecond), 3)} |");
        }
        sb.AppendLine();

        sb.AppendLine("Goals (issue 7), judged on these runs:").AppendLine();
        foreach (var line in Goals(trials, rows))
        {
            sb.AppendLine("- " + line);
        }
        sb.AppendLine();

        sb.AppendLine("<details><summary>Every trial</summary>").AppendLine();
        sb.AppendLine("| run | rate | consumer | offered | s | generator rate | baseline rate | delivered | kernel lost | uncounted | CPU µs | CPU/event µs | peak RSS MB | wait Δ | collector CPU/event µs | notes |");
        sb.AppendLine("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var t in trials)
        {
            string notes = string.Join("; ", new[] { t.Error is null ? null : "FAILED: " + t.Error, t.TimedOut ? "drain timeout" : null, t.Details }.Where(s => s is not null))
                .Replace('|', '/').Replace('\n', ' ');
            sb.AppendLine($"| {t.Run} | {CompareOptions.RateName(t.Rate)} | {t.Consumer} | {t.Offered:N0} | {t.GeneratorSeconds:0.00} | {t.AchievedRate:N0} | {t.BaselineRate:N0} | "
                + $"{t.Delivered:N0} | {t.KernelLost:N0} | {t.UncountedLoss:N0} | {t.ConsumerCpuUs:N0} | {F(t.CpuPerEventUs)} | {t.ConsumerPeakRssKb / 1024.0:0} | {t.WaitActual} | "
                + $"{F(t.CollectorCpuPerEventUs)} | {notes} |");
        }
        sb.AppendLine().AppendLine("</details>").AppendLine();

        var threaded = trials.Where(t => t.ThreadCpu.Count > 0).ToList();
        if (threaded.Count > 0)
        {
            sb.AppendLine("<details><summary>Where Sluice's CPU goes, per thread name (µs per delivered event; threads that exited during the trial are counted under \"(exited threads)\")</summary>").AppendLine();
            foreach (var t in threaded)
            {
                sb.Append($"- run {t.Run}, {CompareOptions.RateName(t.Rate)}: ");
                sb.AppendLine(string.Join(", ", t.ThreadCpu.Select(x => $"{x.Thread} {(t.Delivered > 0 ? x.Us / t.Delivered : 0):0.00}")));
            }
            sb.AppendLine().AppendLine("</details>");
        }
        return sb.ToString();
    }

    /// <summary>The issue's goals, each said plainly as met, not met, or not measured.</summary>
    public static IReadOnlyList<string> Goals(IReadOnlyList<TrialResult> trials, IReadOnlyList<Row> rows)
    {
        var goals = new List<string>();
        var sluice = trials.Where(t => t.Consumer == Sluice && t.Error is null).ToList();
        if (sluice.Count == 0)
        {
            return ["Sluice was not measured."];
        }
        // Judged on the rate the generator reached with Sluice running, not the target: a host
        // that Sluice slows down does not get to claim the target rate.
        var high = sluice.Where(t => t.AchievedRate >= 40000 * 0.95).ToList();
        var targeted = sluice.Where(t => t.Rate >= 40000 || t.Rate == 0).ToList();
        if (high.Count == 0)
        {
            goals.Add(targeted.Count == 0
                ? "Zero loss at ≥ 40k events/s: not measured (no rate ≥ 40,000)."
                : $"Zero loss at ≥ 40k events/s: **not shown**: with Sluice running the generator reached only {string.Join(", ", targeted.Select(t => $"{t.AchievedRate:N0}/s (target {CompareOptions.RateName(t.Rate)})"))}"
                    + $"; stored {string.Join(", ", targeted.Select(t => $"{t.Delivered:N0} of {t.Offered:N0}"))}.");
        }
        else
        {
            var lossy = high.Where(t => t.Delivered < t.Offered).ToList();
            goals.Add(lossy.Count == 0
                ? $"Zero loss at ≥ 40k events/s: **met** ({high.Count} trials at generator rates {string.Join(", ", high.Select(t => t.AchievedRate.ToString("N0", Inv)))}/s, every event stored)."
                : $"Zero loss at ≥ 40k events/s: **not met**: {string.Join("; ", lossy.Select(t => $"run {t.Run} at {t.AchievedRate:N0}/s stored {t.Delivered:N0} of {t.Offered:N0} (kernel lost {t.KernelLost:N0})"))}.");
        }
        var at20 = rows.FirstOrDefault(r => r.Consumer == Sluice && r.Rate == 20000);
        goals.Add(at20?.CpuPerEventUs is double cpu
            ? $"Agent CPU ≤ 8 µs/event at 20k events/s: **{(cpu <= 8 ? "met" : "not met")}** (median {cpu:0.00} µs at a generator rate of {N(at20.AchievedRate)}/s; the collector apart: {F(at20.CollectorCpuPerEventUs)} µs)."
            : "Agent CPU ≤ 8 µs/event at 20k events/s: not measured (no 20,000 rate).");
        long peak = sluice.Max(t => t.ConsumerPeakRssKb);
        goals.Add($"Agent peak RSS ≤ 100 MB: **{(peak <= 100 * 1024 ? "met" : "not met")}** (highest {peak / 1024.0:0} MB).");
        var maxS = rows.FirstOrDefault(r => r.Consumer == Sluice && r.Rate == 0);
        var maxB = rows.FirstOrDefault(r => r.Consumer == Bare && r.Rate == 0);
        goals.Add(Ratio(maxS?.DeliveredPerSecond, maxB?.DeliveredPerSecond) is double sat
            ? $"At saturation Sluice delivers ≥ 90% of what the bare reader drains: **{(sat >= 0.9 ? "met" : "not met")}** ({sat:P1}: {maxS!.DeliveredPerSecond:N0} against {maxB!.DeliveredPerSecond:N0} events/s)."
            : "At saturation Sluice delivers ≥ 90% of the bare reader: not measured (needs 'max' with bare and sluice).");
        long waits = sluice.Sum(t => t.WaitActual);
        goals.Add(waits == 0
            ? "The host is never stalled (backlog_wait_time_actual does not grow): **met** in every Sluice trial."
            : $"The host is never stalled: **not met**: backlog_wait_time_actual grew by {waits:N0} over the Sluice trials.");
        return goals;
    }

    private static string N(double? v) => v is double x ? x.ToString("N0", Inv) : "—";

    private static string F(double? v, int decimals = 2) => v is double x ? x.ToString("F" + decimals, Inv) : "—";

    private static string P(double? v, int decimals = 1) => v is double x ? (x * 100).ToString("F" + decimals, Inv) + "%" : "—";
}
