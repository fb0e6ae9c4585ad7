using Sluice.Benchmarks.Harness;

namespace Sluice.Benchmarks.Tests.Harness;

public sealed class ComparisonReportTests
{
    [Fact]
    public void Median_OddEvenAndEmpty()
    {
        Assert.Equal(2, ComparisonReport.Median([3, 1, 2]));
        Assert.Equal(2.5, ComparisonReport.Median([4, 1, 3, 2]));
        Assert.Equal(5, ComparisonReport.Median([null, 5, double.NaN]));
        Assert.Null(ComparisonReport.Median([]));
        Assert.Null(ComparisonReport.Ratio(1, 0));
        Assert.Equal(0.5, ComparisonReport.Ratio(1, 2));
    }

    private static TrialResult Trial(int run, string consumer, long offered, long delivered, long lost, double cpuUs, long rssKb,
        double? collectorUs = null, int rate = 20000, long? idleKb = null) => new()
    {
        Run = run,
        Rate = rate,
        Consumer = consumer,
        Offered = offered,
        GeneratorSeconds = 10,
        AchievedRate = offered / 10.0,
        BaselineRate = 20000,
        Delivered = delivered,
        KernelLost = lost,
        ConsumerCpuUs = cpuUs,
        ConsumerPeakRssKb = rssKb,
        ConsumerIdleRssKb = idleKb,
        CollectorCpuUs = collectorUs,
        CollectorPeakRssKb = collectorUs is null ? null : 200 * 1024,
        BacklogLimitAtEnd = 65752,
    };

    [Fact]
    public void Markdown_MediansOfTheRuns_RatiosAndGoals()
    {
        var trials = new List<TrialResult>
        {
            // auditd: 10, 30, 20 µs per event over 3 runs → median 20.
            Trial(1, ComparisonReport.AuditdRaw, 200_000, 200_000, 0, 2_000_000, 3 * 1024, idleKb: 2 * 1024),
            Trial(2, ComparisonReport.AuditdRaw, 200_000, 200_000, 0, 6_000_000, 3 * 1024, idleKb: 2 * 1024),
            Trial(3, ComparisonReport.AuditdRaw, 200_000, 200_000, 0, 4_000_000, 3 * 1024, idleKb: 2 * 1024),
            // bare reader: 2 µs per event.
            Trial(1, ComparisonReport.Bare, 200_000, 200_000, 0, 400_000, 34 * 1024, idleKb: 20 * 1024),
            // Sluice: 5 µs per event in every run; one run lost 100 events. Idle 30, 40, 50 MB → median 40.
            Trial(1, ComparisonReport.Sluice, 200_000, 200_000, 0, 1_000_000, 90 * 1024, collectorUs: 2_000_000, idleKb: 30 * 1024) with { IdleCores = 0.02 },
            Trial(2, ComparisonReport.Sluice, 200_000, 199_900, 100, 999_500, 90 * 1024, collectorUs: 2_000_000, idleKb: 50 * 1024),
            Trial(3, ComparisonReport.Sluice, 200_000, 200_000, 0, 1_000_000, 90 * 1024, collectorUs: 2_000_000, idleKb: 40 * 1024),
            Trial(1, ComparisonReport.Sluice, 100, 0, 0, 0, 0, rate: 0) with { Error = "sluice-agent exited with code 1" },
        };

        string md = ComparisonReport.Markdown(trials, "header");

        // CPU/event, then idle RSS, then peak RSS.
        Assert.Contains("| 20,000 | auditd RAW | 3 | 200,000 | 20,000/s | 100.0% | 200,000 | 100.00% | 0 | 0 | 20.00 | — | 2 | 3 |", md, StringComparison.Ordinal);
        // Idle CPU: 2 % of a core (one run had it) over 20,000 delivered events/s = 1 µs/event.
        Assert.Contains("| 20,000 | Sluice | 3 | 200,000 | 20,000/s | 100.0% | 200,000 | 100.00% | 0 | 0 | 5.00 | 2.0 (1.00) | 40 | 90 | 0 | 10.00 | — / 200 |", md, StringComparison.Ordinal);
        Assert.Contains("| max | Sluice | 0 (1 failed) |", md, StringComparison.Ordinal);
        // CPU Sluice/bare 5/2, Sluice/auditd 5/20; agent + collector (5 + 10)/20; idle RSS 40/2.
        Assert.Contains("| 20,000 | 2.50 | 0.25 | — | 0.75 | 20.00 |", md, StringComparison.Ordinal);
        Assert.Contains("Agent CPU/event ≤ 1.5× the bare reader's at 20k events/s: **not met** (2.50× bare: 5.00 against 2.00 µs/event, medians of 3 and 1 runs).", md, StringComparison.Ordinal);
        Assert.Contains("Agent CPU/event ≤ 1.5× the bare reader's at 60k events/s: not measured", md, StringComparison.Ordinal);
        Assert.Contains("Agent idle RSS ≤ 32 MB: **not met** (median 40 MB over 3 trials).", md, StringComparison.Ordinal);
        Assert.Contains("FAILED: sluice-agent exited with code 1", md, StringComparison.Ordinal);
        // auditd's 10–30 µs spread is wide: every run listed, and ratios against it flagged as weak.
        Assert.Contains("| 20,000 | auditd RAW | 20.00 | 10.00 | 30.00 | 10.00, 30.00, 20.00 | 100% (wide) |", md, StringComparison.Ordinal);
        Assert.Contains("**Wide spread:** auditd RAW at 20,000/s used 10.00–30.00 µs/event over 3 runs (100% of its median 20.00): ratios against it at this rate are weak.", md, StringComparison.Ordinal);
    }

    [Fact]
    public void Spread_MinMedianMaxEveryRun_WideOnlyAboveTheThreshold_WarnedOnlyForAnchors()
    {
        var trials = new List<TrialResult>
        {
            // auditd 10, 11.5, 10.5: spread 1.5 / 10.5 = 14% → not wide.
            Trial(1, ComparisonReport.AuditdRaw, 100_000, 100_000, 0, 1_000_000, 3 * 1024),
            Trial(2, ComparisonReport.AuditdRaw, 100_000, 100_000, 0, 1_150_000, 3 * 1024),
            Trial(3, ComparisonReport.AuditdRaw, 100_000, 100_000, 0, 1_050_000, 3 * 1024),
            // Sluice 4, 8: wide, but not an anchor.
            Trial(1, ComparisonReport.Sluice, 100_000, 100_000, 0, 400_000, 90 * 1024),
            Trial(2, ComparisonReport.Sluice, 100_000, 100_000, 0, 800_000, 90 * 1024),
            // bare reader at another rate, one run: no spread to speak of.
            Trial(1, ComparisonReport.Bare, 100_000, 100_000, 0, 200_000, 30 * 1024, rate: 60000),
            // A failed run does not count.
            Trial(4, ComparisonReport.AuditdRaw, 100_000, 100_000, 0, 9_000_000, 3 * 1024) with { Error = "x" },
        };

        var spreads = ComparisonReport.Spreads(trials);

        var auditd = Assert.Single(spreads, s => s.Consumer == ComparisonReport.AuditdRaw);
        Assert.Equal([10, 11.5, 10.5], auditd.Values);
        Assert.Equal((10, 10.5, 11.5), (auditd.Min, auditd.Median, auditd.Max));
        Assert.False(auditd.IsWide);
        var sluice = Assert.Single(spreads, s => s.Consumer == ComparisonReport.Sluice);
        Assert.True(sluice.IsWide);
        Assert.False(Assert.Single(spreads, s => s.Consumer == ComparisonReport.Bare).IsWide);
        Assert.Empty(ComparisonReport.SpreadWarnings(spreads));

        var wide = ComparisonReport.SpreadWarnings(ComparisonReport.Spreads(
            [.. trials, Trial(5, ComparisonReport.AuditdRaw, 100_000, 100_000, 0, 1_300_000, 3 * 1024)]));
        Assert.Contains("auditd RAW at 20,000/s used 10.00–13.00 µs/event over 4 runs", Assert.Single(wide), StringComparison.Ordinal);
    }

    [Fact]
    public void StoredGoal_At60k_NeedsEveryEventAndNoUncounted()
    {
        var all = Trial(1, ComparisonReport.Sluice, 600_000, 600_000, 0, 6_000_000, 60 * 1024, rate: 60000);
        var goals = ComparisonReport.Goals([all], ComparisonReport.Rows([all]));
        Assert.Contains(goals, g => g.StartsWith("100% stored at 60k events/s with 0 uncounted: **met**", StringComparison.Ordinal));
        Assert.Contains(goals, g => g == "Agent peak RSS ≤ 64 MB at 60k events/s: **met** (median 60 MB).");

        var lossy = Trial(1, ComparisonReport.Sluice, 600_000, 599_000, 1000, 6_000_000, 90 * 1024, rate: 60000);
        goals = ComparisonReport.Goals([lossy], ComparisonReport.Rows([lossy]));
        Assert.Contains(goals, g => g.StartsWith("100% stored at 60k events/s with 0 uncounted: **not met**", StringComparison.Ordinal)
            && g.Contains("599,000 of 600,000", StringComparison.Ordinal));
        Assert.Contains(goals, g => g.StartsWith("Agent peak RSS ≤ 64 MB at 60k events/s: **not met**", StringComparison.Ordinal));
    }

    [Fact]
    public void ExecLoad_JudgedAgainstTwiceTheBareReader_AtMax()
    {
        var bare = Trial(1, ComparisonReport.Bare, 5_000, 5_000, 0, 40_000, 30 * 1024, rate: 0);
        var sluice = Trial(1, ComparisonReport.Sluice, 5_000, 5_000, 0, 75_000, 60 * 1024, rate: 0);
        var goals = ComparisonReport.Goals([bare, sluice], ComparisonReport.Rows([bare, sluice]), LoadKind.Exec);
        Assert.Contains("Agent CPU per exec event ≤ 2× the bare reader's at max rate: **met** (1.88× bare: 15.00 against 8.00 µs/event, medians of 1 and 1 runs).", goals);
        Assert.DoesNotContain(goals, g => g.Contains("60k", StringComparison.Ordinal));
    }
}
