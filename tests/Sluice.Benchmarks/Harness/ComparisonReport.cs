using System.Globalization;
using System.Text;
using Sluice.Benchmarks.Stages;

namespace Sluice.Benchmarks.Harness;

/// <summary>Medians of the runs, the Sluice ratios, the goals, and every trial, as Markdown.</summary>
public static class ComparisonReport
{
    public const string Bare = "bare reader";
    public const string AuditdRaw = "auditd RAW";
    public const string Laurel = "auditd + laurel";
    public const string Sluice = "Sluice";

    /// <summary>The same agent with its process context (issue 19) off; <see cref="Sluice"/> runs with the agent's default (on).</summary>
    public const string SluiceNoContext = "Sluice (enrichment off)";

    /// <summary>The order consumers are listed in, within a rate.</summary>
    public static readonly IReadOnlyList<string> Order = [Bare, AuditdRaw, Laurel, Sluice, SluiceNoContext];

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
        double? CollectorCpuPerEventUs, double? CollectorPeakRssMb, double? BacklogLimitAtEnd, double? DeliveredPerSecond, double? KauditdCpuPerEventUs,
        double? IdleRssMb = null, double? CollectorIdleRssMb = null, double? IdleCores = null)
    {
        /// <summary>
        /// The CPU the consumer burns with no load, spread over the events it delivered per second
        /// at this rate, µs: a floor under its CPU/event that no per-event work explains.
        /// </summary>
        public double? IdleUsPerEvent => IdleCores is double c && DeliveredPerSecond is double d && d > 0 ? c * 1e6 / d : null;
    }

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
                M(t => t.GeneratorSeconds > 0 ? t.Delivered / t.GeneratorSeconds : null), M(t => t.KauditdCpuPerEventUs),
                M(t => t.ConsumerIdleRssKb / 1024.0), M(t => t.CollectorIdleRssKb / 1024.0), M(t => t.IdleCores)));
        }
        return rows;
    }

    /// <summary>A spread wider than this fraction of the median makes ratios against the consumer weak.</summary>
    public const double WideSpread = 0.20;

    /// <summary>The consumers the ratios are taken against.</summary>
    public static readonly IReadOnlyList<string> Anchors = [Bare, AuditdRaw, Laurel];

    /// <summary>One consumer's CPU/event at one rate across its runs: every value in run order, and min, median, max.</summary>
    public sealed record Spread(int Rate, string Consumer, IReadOnlyList<double> Values, double Min, double Median, double Max)
    {
        /// <summary>(max − min) / median.</summary>
        public double Relative => Median > 0 ? (Max - Min) / Median : 0;

        public bool IsWide => Values.Count >= 2 && Relative > WideSpread;
    }

    /// <summary>CPU/event spread of every consumer at every rate, over the runs that completed (consumers with none left out).</summary>
    public static IReadOnlyList<Spread> Spreads(IReadOnlyList<TrialResult> trials)
    {
        var spreads = new List<Spread>();
        foreach (var group in trials.Where(t => t.Error is null && t.CpuPerEventUs is not null).GroupBy(t => (t.Rate, t.Consumer)))
        {
            var values = group.OrderBy(t => t.Run).Select(t => t.CpuPerEventUs!.Value).ToList();
            spreads.Add(new Spread(group.Key.Rate, group.Key.Consumer, values, values.Min(), Median(values.Select(v => (double?)v))!.Value, values.Max()));
        }
        return spreads;
    }

    /// <summary>One sentence per anchor whose CPU/event spread is wide at a rate: ratios against it are weak there.</summary>
    public static IReadOnlyList<string> SpreadWarnings(IReadOnlyList<Spread> spreads) =>
        spreads.Where(s => s.IsWide && Anchors.Contains(s.Consumer))
            .OrderBy(s => s.Rate == 0 ? int.MaxValue : s.Rate).ThenBy(s => Anchors.ToList().IndexOf(s.Consumer))
            .Select(s => string.Create(Inv,
                $"**Wide spread:** {s.Consumer} at {CompareOptions.RateName(s.Rate)}/s used {s.Min:0.00}–{s.Max:0.00} µs/event over {s.Values.Count} runs "
                + $"({P(s.Relative, 0)} of its median {s.Median:0.00}): ratios against it at this rate are weak."))
            .ToList();

    public static string Markdown(IReadOnlyList<TrialResult> trials, string header, LoadKind load = LoadKind.Getppid, IReadOnlyList<StageBreakdown>? stages = null)
    {
        var rows = Rows(trials);
        var rates = trials.Select(t => t.Rate).Distinct().OrderBy(r => r == 0 ? int.MaxValue : r).ToList();
        var order = Order.ToArray();
        var sb = new StringBuilder();
        sb.AppendLine(header).AppendLine();

        sb.AppendLine("Medians of the runs. *offered*: events the generator caused; *host impact*: the generator's rate against its rate with audit off; "
            + "*uncounted*: offered − delivered − kernel lost; *CPU/event*: the consumer's utime+stime from the start of the load to its last delivered event, per delivered event "
            + "(auditd + laurel: both processes summed; Sluice: the agent, the collector in its own column); *kauditd*: the kernel thread that sends records to the consumer, same window; "
            + "*idle RSS*: VmRSS once the consumer is registered with its rule loaded and has used under 5% of a core for 3 s, before the warm-up; "
            + "*idle CPU*: the consumer's CPU over 5 s with no load after the warm-up, just before the measured load, in % of one core (10 ms ticks: 0.2 % steps), and spread over the events it delivered per second at that rate, a floor under its CPU/event; "
            + "*peak RSS*: VmHWM at the end of the trial (both summed for auditd + laurel); *wait Δ*: growth of `backlog_wait_time_actual`; "
            + "*kernel lost* counts records the kernel could not queue (about one per dropped event), so *uncounted* can be slightly negative.")
            .AppendLine();
        sb.AppendLine("| rate | consumer | runs | offered | generator rate | host impact | delivered | delivered % | kernel lost | uncounted | CPU/event µs | idle CPU % (µs/event) | idle RSS MB | peak RSS MB | wait Δ | collector CPU/event µs | collector idle / peak RSS MB | kauditd CPU/event µs | backlog_limit at end |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (int rate in rates)
        {
            foreach (var row in rows.Where(r => r.Rate == rate).OrderBy(r => Array.IndexOf(order, r.Consumer)))
            {
                string runs = row.Failed > 0 ? $"{row.Runs} ({row.Failed} failed)" : row.Runs.ToString(Inv);
                string collectorRss = row.CollectorPeakRssMb is null ? "—" : $"{F(row.CollectorIdleRssMb, 0)} / {F(row.CollectorPeakRssMb, 0)}";
                sb.AppendLine($"| {CompareOptions.RateName(rate)} | {row.Consumer} | {runs} | {N(row.Offered)} | {N(row.AchievedRate)}/s | {P(row.HostImpact)} | "
                    + $"{N(row.Delivered)} | {P(row.DeliveredFraction, 2)} | {N(row.KernelLost)} | {N(row.Uncounted)} | {F(row.CpuPerEventUs)} | {IdleCpu(row)} | {F(row.IdleRssMb, 0)} | {F(row.PeakRssMb, 0)} | "
                    + $"{N(row.WaitActual)} | {F(row.CollectorCpuPerEventUs)} | {collectorRss} | {F(row.KauditdCpuPerEventUs)} | {N(row.BacklogLimitAtEnd)} |");
            }
        }
        sb.AppendLine();

        var spreads = Spreads(trials);
        if (spreads.Any(s => s.Values.Count >= 2))
        {
            sb.AppendLine("CPU/event across the runs, per consumer: every run's value in run order, and the spread (max − min) against the median. "
                + $"A ratio is only as firm as its anchor: an anchor whose spread is over {P(WideSpread, 0)} is named below the table.").AppendLine();
            sb.AppendLine("| rate | consumer | median µs | min µs | max µs | every run µs | spread |");
            sb.AppendLine("|---|---|---:|---:|---:|---|---:|");
            foreach (var sp in spreads.OrderBy(x => x.Rate == 0 ? int.MaxValue : x.Rate).ThenBy(x => Array.IndexOf(order, x.Consumer)))
            {
                sb.AppendLine($"| {CompareOptions.RateName(sp.Rate)} | {sp.Consumer} | {F(sp.Median)} | {F(sp.Min)} | {F(sp.Max)} | {string.Join(", ", sp.Values.Select(v => F(v)))} | {P(sp.Relative, 0)}{(sp.IsWide ? " (wide)" : "")} |");
            }
            sb.AppendLine();
            foreach (var warning in SpreadWarnings(spreads))
            {
                sb.AppendLine("- " + warning);
            }
            if (SpreadWarnings(spreads).Count > 0)
            {
                sb.AppendLine();
            }
        }

        sb.AppendLine("Ratios of the medians (below 1: Sluice uses less; for delivered, above 1: Sluice delivers more).").AppendLine();
        sb.AppendLine("| rate | CPU/event Sluice/bare | CPU/event Sluice/auditd | CPU/event Sluice/laurel | CPU/event (agent + collector)/auditd | idle RSS Sluice/auditd | peak RSS Sluice/auditd | peak RSS Sluice/laurel | delivered Sluice/auditd | delivered Sluice/laurel | delivered Sluice/bare |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (int rate in rates)
        {
            Row? Get(string c) => rows.FirstOrDefault(r => r.Rate == rate && r.Consumer == c);
            var (s, a, l, b) = (Get(Sluice), Get(AuditdRaw), Get(Laurel), Get(Bare));
            double? total = s?.CpuPerEventUs is double x ? x + (s.CollectorCpuPerEventUs ?? 0) : null;
            sb.AppendLine($"| {CompareOptions.RateName(rate)} | {F(Ratio(s?.CpuPerEventUs, b?.CpuPerEventUs))} | {F(Ratio(s?.CpuPerEventUs, a?.CpuPerEventUs))} | {F(Ratio(s?.CpuPerEventUs, l?.CpuPerEventUs))} | "
                + $"{F(Ratio(total, a?.CpuPerEventUs))} | {F(Ratio(s?.IdleRssMb, a?.IdleRssMb))} | {F(Ratio(s?.PeakRssMb, a?.PeakRssMb))} | {F(Ratio(s?.PeakRssMb, l?.PeakRssMb))} | "
                + $"{F(Ratio(s?.DeliveredPerSecond, a?.DeliveredPerSecond), 3)} | {F(Ratio(s?.DeliveredPerSecond, l?.DeliveredPerSecond), 3)} | {F(Ratio(s?.DeliveredPerSecond, b?.DeliveredPerSecond), 3)} |");
        }
        sb.AppendLine();

        sb.AppendLine("Goals (issue 16), judged on these runs:").AppendLine();
        foreach (var line in Goals(trials, rows, load))
        {
            sb.AppendLine("- " + line);
        }
        sb.AppendLine();

        if (trials.Any(t => t.Consumer == SluiceNoContext))
        {
            sb.Append(ContextMarkdown(trials, rows, rates));
        }

        foreach (var breakdown in stages ?? [])
        {
            var perRate = rates.Select(r => new StageBreakdown.RateFigures(r, rows.FirstOrDefault(x => x.Rate == r && x.Consumer == Bare)?.CpuPerEventUs,
                rows.FirstOrDefault(x => x.Rate == r && x.Consumer == Sluice)?.CpuPerEventUs,
                rows.FirstOrDefault(x => x.Rate == r && x.Consumer == Sluice)?.IdleUsPerEvent)).ToList();
            sb.Append(breakdown.Markdown(perRate));
        }

        sb.AppendLine("<details><summary>Every trial</summary>").AppendLine();
        sb.AppendLine("| run | rate | consumer | offered | s | generator rate | baseline rate | delivered | kernel lost | uncounted | CPU µs | CPU/event µs | idle RSS MB | peak RSS MB | wait Δ | collector CPU/event µs | notes |");
        sb.AppendLine("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var t in trials)
        {
            string notes = string.Join("; ", new[] { t.Error is null ? null : "FAILED: " + t.Error, t.TimedOut ? "drain timeout" : null,
                    t.IdleReached ? null : $"not idle after {CompareCommand.IdleRssTimeoutSeconds:0} s: idle RSS read anyway", t.Details,
                    t.SluiceVariant && t.Error is null ? TableText(t) : null }.Where(s => s is not null))
                .Replace('|', '/').Replace('\n', ' ');
            sb.AppendLine($"| {t.Run} | {CompareOptions.RateName(t.Rate)} | {t.Consumer} | {t.Offered:N0} | {t.GeneratorSeconds:0.00} | {t.AchievedRate:N0} | {t.BaselineRate:N0} | "
                + $"{t.Delivered:N0} | {t.KernelLost:N0} | {t.UncountedLoss:N0} | {t.ConsumerCpuUs:N0} | {F(t.CpuPerEventUs)} | {F(t.ConsumerIdleRssKb / 1024.0, 0)} | {t.ConsumerPeakRssKb / 1024.0:0} | {t.WaitActual} | "
                + $"{F(t.CollectorCpuPerEventUs)} | {notes} |");
        }
        sb.AppendLine().AppendLine("</details>").AppendLine();

        var threaded = trials.Where(t => t.ThreadCpu.Count > 0).ToList();
        if (threaded.Count > 0)
        {
            sb.AppendLine("<details><summary>Where Sluice's CPU goes, per thread name (µs per delivered event; threads that exited during the trial are counted under \"(exited threads)\")</summary>").AppendLine();
            foreach (var t in threaded)
            {
                sb.Append($"- run {t.Run}, {CompareOptions.RateName(t.Rate)}{(t.Consumer == Sluice ? "" : $", {t.Consumer}")}: ");
                sb.AppendLine(string.Join(", ", t.ThreadCpu.Select(x => $"{x.Thread} {(t.Delivered > 0 ? x.Us / t.Delivered : 0):0.00}")));
            }
            sb.AppendLine().AppendLine("</details>");
        }
        return sb.ToString();
    }

    /// <summary>The issue's goals, each said plainly as met, not met, or not measured, on the medians of the runs.</summary>
    public static IReadOnlyList<string> Goals(IReadOnlyList<TrialResult> trials, IReadOnlyList<Row> rows, LoadKind load = LoadKind.Getppid)
    {
        var goals = new List<string>();
        var sluice = trials.Where(t => t.Consumer == Sluice && t.Error is null).ToList();
        if (sluice.Count == 0)
        {
            return ["Sluice was not measured."];
        }
        Row? Get(string consumer, int rate) => rows.FirstOrDefault(r => r.Consumer == consumer && r.Rate == rate);
        string CpuGoal(int rate, double limit, string what)
        {
            var (s, b) = (Get(Sluice, rate), Get(Bare, rate));
            if (Ratio(s?.CpuPerEventUs, b?.CpuPerEventUs) is not double r)
            {
                return $"{what}: not measured (needs bare and sluice at {CompareOptions.RateName(rate)}).";
            }
            return string.Create(Inv, $"{what}: **{(r <= limit ? "met" : "not met")}** ({r:0.00}× bare: {s!.CpuPerEventUs:0.00} against {b!.CpuPerEventUs:0.00} µs/event, medians of {s.Runs} and {b.Runs} runs).");
        }
        if (load == LoadKind.Exec)
        {
            goals.Add(CpuGoal(0, 2, "Agent CPU per exec event ≤ 2× the bare reader's at max rate"));
        }
        else
        {
            goals.Add(CpuGoal(20000, 1.5, "Agent CPU/event ≤ 1.5× the bare reader's at 20k events/s"));
            goals.Add(CpuGoal(60000, 1.5, "Agent CPU/event ≤ 1.5× the bare reader's at 60k events/s"));
            var at60 = Get(Sluice, 60000);
            goals.Add(at60?.PeakRssMb is double peak
                ? string.Create(Inv, $"Agent peak RSS ≤ 64 MB at 60k events/s: **{(peak <= 64 ? "met" : "not met")}** (median {peak:0} MB).")
                : "Agent peak RSS ≤ 64 MB at 60k events/s: not measured (no 60,000 rate).");
            var stored = sluice.Where(t => t.Rate == 60000).ToList();
            if (stored.Count == 0)
            {
                goals.Add("100% stored at 60k events/s with 0 uncounted: not measured (no 60,000 rate).");
            }
            else
            {
                var short_ = stored.Where(t => t.Delivered < t.Offered || t.UncountedLoss > 0).ToList();
                goals.Add(short_.Count == 0
                    ? $"100% stored at 60k events/s with 0 uncounted: **met** in {stored.Count} trial(s) (generator rates {string.Join(", ", stored.Select(t => t.AchievedRate.ToString("N0", Inv)))}/s)."
                    : $"100% stored at 60k events/s with 0 uncounted: **not met**: {string.Join("; ", short_.Select(t => $"run {t.Run} at {t.AchievedRate:N0}/s stored {t.Delivered:N0} of {t.Offered:N0} (kernel lost {t.KernelLost:N0}, uncounted {t.UncountedLoss:N0})"))}.");
            }
        }
        double? idle = Median(sluice.Select(t => t.ConsumerIdleRssKb / 1024.0));
        goals.Add(idle is double i
            ? string.Create(Inv, $"Agent idle RSS ≤ 32 MB: **{(i <= 32 ? "met" : "not met")}** (median {i:0} MB over {sluice.Count(t => t.ConsumerIdleRssKb is not null)} trials).")
            : "Agent idle RSS ≤ 32 MB: not measured.");
        long waits = sluice.Sum(t => t.WaitActual);
        goals.Add(waits == 0
            ? "The host is never stalled (backlog_wait_time_actual does not grow): **met** in every Sluice trial."
            : $"The host is never stalled: **not met**: backlog_wait_time_actual grew by {waits:N0} over the Sluice trials.");
        return goals;
    }

    /// <summary>The agent's process table after a trial, as its status said, or that it said nothing.</summary>
    public static string TableText(TrialResult t) => t.Enrichment is not { } e
        ? "process table n/a (no enrichment section in the agent's status)"
        : string.Create(Inv, $"process table: enrichment {OnOff(e.Enabled)}, {Count(e.Processes)} processes, {Count(e.TableBytes)} bytes, {Count(e.Evicted)} evicted");

    /// <summary>
    /// Enrichment's cost at one rate: the two Sluice variants' medians, their ratios to the bare
    /// reader, and the per-run differences (on − off, paired by run, both completed), with the
    /// table as each variant's status reported it (medians; null: not reported).
    /// </summary>
    public sealed record ContextCost(int Rate, Row? On, Row? Off, Row? BareRow, IReadOnlyList<double> Differences,
        double? OnProcesses, double? OnTableBytes, double? OnEvicted, double? OffProcesses, double? OffTableBytes,
        IReadOnlyList<bool?> OnEnabled, IReadOnlyList<bool?> OffEnabled)
    {
        public double? OnPerBare => Ratio(On?.CpuPerEventUs, BareRow?.CpuPerEventUs);

        public double? OffPerBare => Ratio(Off?.CpuPerEventUs, BareRow?.CpuPerEventUs);

        /// <summary>Enrichment's own CPU per event: the median of the per-run differences.</summary>
        public double? CostUs => Median(Differences.Select(d => (double?)d));

        public double? CostMin => Differences.Count > 0 ? Differences.Min() : null;

        public double? CostMax => Differences.Count > 0 ? Differences.Max() : null;

        /// <summary>The cost against the agent's CPU/event without enrichment.</summary>
        public double? CostShare => Ratio(CostUs, Off?.CpuPerEventUs);

        public double? PeakRssDeltaMb => On?.PeakRssMb is double a && Off?.PeakRssMb is double b ? a - b : null;

        public double? IdleRssDeltaMb => On?.IdleRssMb is double a && Off?.IdleRssMb is double b ? a - b : null;

        public double? BytesPerProcess => OnTableBytes is double b && OnProcesses is double p && p > 0 ? b / p : null;
    }

    public static IReadOnlyList<ContextCost> ContextCosts(IReadOnlyList<TrialResult> trials, IReadOnlyList<Row> rows)
    {
        var costs = new List<ContextCost>();
        foreach (int rate in trials.Where(t => t.Consumer is Sluice or SluiceNoContext).Select(t => t.Rate).Distinct().OrderBy(r => r == 0 ? int.MaxValue : r))
        {
            List<TrialResult> Ok(string consumer) => trials.Where(t => t.Rate == rate && t.Consumer == consumer && t.Error is null).ToList();
            var (on, off) = (Ok(Sluice), Ok(SluiceNoContext));
            var differences = on.Where(t => t.CpuPerEventUs is not null)
                .Join(off.Where(t => t.CpuPerEventUs is not null), t => t.Run, t => t.Run, (a, b) => (a.Run, Diff: a.CpuPerEventUs!.Value - b.CpuPerEventUs!.Value))
                .OrderBy(x => x.Run).Select(x => x.Diff).ToList();
            Row? Get(string c) => rows.FirstOrDefault(r => r.Rate == rate && r.Consumer == c);
            costs.Add(new ContextCost(rate, Get(Sluice), Get(SluiceNoContext), Get(Bare), differences,
                Median(on.Select(t => (double?)t.Enrichment?.Processes)), Median(on.Select(t => (double?)t.Enrichment?.TableBytes)),
                Median(on.Select(t => (double?)t.Enrichment?.Evicted)),
                Median(off.Select(t => (double?)t.Enrichment?.Processes)), Median(off.Select(t => (double?)t.Enrichment?.TableBytes)),
                on.Select(t => t.Enrichment?.Enabled).ToList(), off.Select(t => t.Enrichment?.Enabled).ToList()));
        }
        return costs;
    }

    /// <summary>The "Process context cost" section: CPU per event with enrichment on and off, the difference with its spread, and the table's memory.</summary>
    public static string ContextMarkdown(IReadOnlyList<TrialResult> trials, IReadOnlyList<Row> rows, IReadOnlyList<int> rates)
    {
        var costs = ContextCosts(trials, rows);
        var sb = new StringBuilder();
        sb.AppendLine("Process context cost (issue 19): the agent with its default (*on*: Sluice above) and with `\"Enrichment\": {\"Enabled\": false}` (*off*), same load, same run. "
            + "*enrichment µs/event*: the median over the runs of on − off CPU/event, paired by run; in brackets the least and most of those differences. "
            + "*share*: that median against off's CPU/event. The goals above are judged on *on*.").AppendLine();
        sb.AppendLine("| rate | CPU/event on µs | CPU/event off µs | on/bare | off/bare | enrichment µs/event (min–max) | runs paired | share | idle RSS on − off MB | peak RSS on − off MB |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var c in costs)
        {
            string cost = c.CostUs is double u ? $"{F(u)} ({F(c.CostMin)}–{F(c.CostMax)})" : "—";
            sb.AppendLine($"| {CompareOptions.RateName(c.Rate)} | {F(c.On?.CpuPerEventUs)} | {F(c.Off?.CpuPerEventUs)} | {F(c.OnPerBare)} | {F(c.OffPerBare)} | {cost} | {c.Differences.Count} | "
                + $"{P(c.CostShare)} | {F(c.IdleRssDeltaMb, 1)} | {F(c.PeakRssDeltaMb, 1)} |");
        }
        sb.AppendLine();
        sb.AppendLine("The process table after each trial, from `sluice-agent status --json` (`enrichment`; medians of the runs; n/a: the agent reported no such section). "
            + "It holds what the warm-up and the trial put there.").AppendLine();
        sb.AppendLine("| rate | variant | enrichment | processes | table bytes | bytes/process | evicted | idle RSS MB | peak RSS MB |");
        sb.AppendLine("|---|---|---|---:|---:|---:|---:|---:|---:|");
        foreach (var c in costs)
        {
            sb.AppendLine($"| {CompareOptions.RateName(c.Rate)} | on | {States(c.OnEnabled)} | {NA(c.OnProcesses)} | {NA(c.OnTableBytes)} | {(c.BytesPerProcess is double b ? F(b, 0) : "n/a")} | {NA(c.OnEvicted)} | "
                + $"{F(c.On?.IdleRssMb, 0)} | {F(c.On?.PeakRssMb, 0)} |");
            sb.AppendLine($"| {CompareOptions.RateName(c.Rate)} | off | {States(c.OffEnabled)} | {NA(c.OffProcesses)} | {NA(c.OffTableBytes)} | — | — | {F(c.Off?.IdleRssMb, 0)} | {F(c.Off?.PeakRssMb, 0)} |");
        }
        sb.AppendLine();
        foreach (var note in ContextNotes(costs))
        {
            sb.AppendLine("- " + note);
        }
        if (ContextNotes(costs).Count > 0)
        {
            sb.AppendLine();
        }
        return sb.ToString();
    }

    /// <summary>What makes the on − off difference not enrichment's cost, or weak, said plainly.</summary>
    public static IReadOnlyList<string> ContextNotes(IReadOnlyList<ContextCost> costs)
    {
        var notes = new List<string>();
        if (costs.SelectMany(c => c.OnEnabled.Concat(c.OffEnabled)).All(e => e is null))
        {
            notes.Add("The agent reported no `enrichment` section (built before issue 19?): its table is n/a, and *on* is whatever the agent does by default.");
        }
        if (costs.Any(c => c.OnEnabled.Any(e => e is false)))
        {
            notes.Add("**The *on* variant reported enrichment off** (the agent's default is off): on − off is not enrichment's cost.");
        }
        if (costs.Any(c => c.OffEnabled.Any(e => e is true)))
        {
            notes.Add("**The *off* variant reported enrichment on**: on − off is not enrichment's cost.");
        }
        foreach (var c in costs.Where(c => c.Differences.Count < 2))
        {
            notes.Add($"At {CompareOptions.RateName(c.Rate)}/s {(c.Differences.Count == 0 ? "no run completed with both variants: no difference" : "one run completed with both variants: no spread")}.");
        }
        return notes;
    }

    private static string OnOff(bool? enabled) => enabled switch { true => "on", false => "off", null => "n/a" };

    private static string States(IReadOnlyList<bool?> states) =>
        states.Count == 0 ? "—" : states.Distinct().Count() == 1 ? OnOff(states[0]) : string.Join("/", states.Select(OnOff));

    private static string Count(long? v) => v is long x ? x.ToString("N0", Inv) : "n/a";

    private static string NA(double? v) => v is double x ? x.ToString("N0", Inv) : "n/a";

    private static string IdleCpu(Row row) => row.IdleCores is double c ? $"{F(c * 100, 1)} ({F(row.IdleUsPerEvent)})" : "—";

    private static string N(double? v) => v is double x ? x.ToString("N0", Inv) : "—";

    private static string F(double? v, int decimals = 2) => v is double x ? x.ToString("F" + decimals, Inv) : "—";

    private static string P(double? v, int decimals = 1) => v is double x ? (x * 100).ToString("F" + decimals, Inv) + "%" : "—";
}
