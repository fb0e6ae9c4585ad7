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
        double? collectorUs = null, int rate = 20000) => new()
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
            Trial(1, ComparisonReport.AuditdRaw, 200_000, 200_000, 0, 2_000_000, 3 * 1024),
            Trial(2, ComparisonReport.AuditdRaw, 200_000, 200_000, 0, 6_000_000, 3 * 1024),
            Trial(3, ComparisonReport.AuditdRaw, 200_000, 200_000, 0, 4_000_000, 3 * 1024),
            // Sluice: 5 µs per event in every run; one run lost 100 events.
            Trial(1, ComparisonReport.Sluice, 200_000, 200_000, 0, 1_000_000, 90 * 1024, collectorUs: 2_000_000),
            Trial(2, ComparisonReport.Sluice, 200_000, 199_900, 100, 999_500, 90 * 1024, collectorUs: 2_000_000),
            Trial(3, ComparisonReport.Sluice, 200_000, 200_000, 0, 1_000_000, 90 * 1024, collectorUs: 2_000_000),
            Trial(1, ComparisonReport.Sluice, 100, 0, 0, 0, 0, rate: 0) with { Error = "sluice-agent exited with code 1" },
        };

        string md = ComparisonReport.Markdown(trials, "header");

        Assert.Contains("| 20,000 | auditd RAW | 3 | 200,000 | 20,000/s | 100.0% | 200,000 | 100.00% | 0 | 0 | 20.00 | 3 |", md, StringComparison.Ordinal);
        Assert.Contains("| 20,000 | Sluice | 3 | 200,000 | 20,000/s | 100.0% | 200,000 | 100.00% | 0 | 0 | 5.00 | 90 | 0 | 10.00 | 200 |", md, StringComparison.Ordinal);
        Assert.Contains("| max | Sluice | 0 (1 failed) |", md, StringComparison.Ordinal);
        // CPU Sluice/auditd 5/20; agent + collector (5 + 10)/20.
        Assert.Contains("| 20,000 | 0.25 | — | 0.75 |", md, StringComparison.Ordinal);
        Assert.Contains("Agent CPU ≤ 8 µs/event at 20k events/s: **met** (median 5.00 µs", md, StringComparison.Ordinal);
        Assert.Contains("Agent peak RSS ≤ 100 MB: **met** (highest 90 MB)", md, StringComparison.Ordinal);
        Assert.Contains("FAILED: sluice-agent exited with code 1", md, StringComparison.Ordinal);
    }

    [Fact]
    public void ZeroLossGoal_JudgedOnTheReachedRate_NotTheTarget()
    {
        // Target 60,000/s, but the generator only reached 26,000/s with Sluice running.
        var slowed = Trial(1, ComparisonReport.Sluice, 260_000, 260_000, 0, 2_600_000, 90 * 1024, rate: 60000);
        var goals = ComparisonReport.Goals([slowed], ComparisonReport.Rows([slowed]));
        Assert.Contains(goals, g => g.StartsWith("Zero loss at ≥ 40k events/s: **not shown**", StringComparison.Ordinal));

        var reached = Trial(1, ComparisonReport.Sluice, 600_000, 599_000, 1000, 6_000_000, 90 * 1024, rate: 60000);
        goals = ComparisonReport.Goals([reached], ComparisonReport.Rows([reached]));
        Assert.Contains(goals, g => g.StartsWith("Zero loss at ≥ 40k events/s: **not met**", StringComparison.Ordinal) && g.Contains("599,000 of 600,000", StringComparison.Ordinal));
    }
}
