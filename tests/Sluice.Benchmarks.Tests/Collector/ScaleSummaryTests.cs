using Sluice.Benchmarks.Collector;

namespace Sluice.Benchmarks.Tests.Collector;

/// <summary><c>collector-scale</c>'s table: medians of the runs per tier, their spread, per-core rates, and every failure summed.</summary>
public sealed class ScaleSummaryTests
{
    private static ScaleRun Run(int run, int collectors, double rate, double client, double collectorsUs, double database,
        long failed = 0, long conflicts = 0, bool exactly = true) => new()
    {
        Run = run,
        Collectors = collectors,
        EventsPerSecond = rate,
        ClientUs = client,
        CollectorsUs = collectorsUs,
        DatabaseUs = database,
        FailedCalls = failed == 0 ? new Dictionary<string, long>() : new Dictionary<string, long> { ["Unavailable"] = failed },
        Conflicts = conflicts,
        StoredExactly = exactly,
    };

    [Fact]
    public void Median_OddAndEven()
    {
        Assert.Equal(2, ScaleSummary.Median([3, 1, 2]));
        Assert.Equal(2.5, ScaleSummary.Median([4, 1, 3, 2]));
        Assert.Throws<ArgumentException>(() => ScaleSummary.Median([]));
    }

    [Fact]
    public void Markdown_OneRowPerTier_MedianOfRunsSpreadPerCoreAndFailures()
    {
        var table = ScaleSummary.Markdown(
        [
            Run(1, 1, 100_000, 1, 4, 10),
            Run(1, 2, 90_000, 1, 5, 10, failed: 2),
            Run(2, 1, 120_000, 1, 5, 8),
            Run(2, 2, 80_000, 1, 5, 12, conflicts: 1, exactly: false),
            Run(3, 1, 110_000, 1, 6, 9),
        ]).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.Equal(4, table.Length);
        // Tier 1: median of 100k/120k/110k, CPU medians 1 + 5 + 9, 10^6/5 per collector core, 10^6/9 per PostgreSQL core.
        Assert.Equal("| 1 | 3 | 110,000 | 100,000–120,000 | 1.00 | 5.00 | 9.00 | 15.00 | 200,000 | 111,111 | 0 | 0 | 0 | 0 | 0 | yes |", table[2]);
        Assert.Equal("| 2 | 2 | 85,000 | 80,000–90,000 | 1.00 | 5.00 | 11.00 | 17.00 | 200,000 | 90,909 | 2 | 1 | 0 | 0 | 0 | NO |", table[3]);
    }
}
