using Sluice.Benchmarks.Fleet;

namespace Sluice.Benchmarks.Tests.Fleet;

/// <summary><c>fleet</c>'s options: defaults, every option read, and a bad value refused naming its option.</summary>
public sealed class FleetOptionsTests
{
    private static FleetOptions Parse(params string[] args) => FleetOptions.Parse(["fleet", .. args]);

    [Fact]
    public void Parse_RequiredOnly_DefaultsToOneConnectionPerAgent()
    {
        var o = Parse("--agents", "1000", "--seconds", "60", "--store", "postgres");
        Assert.Equal((1000, 60, "postgres", 1000), (o.Agents, o.Seconds, o.Store, o.Connections));
        Assert.Equal((20, 5000, 2000, 30, 1000, 5), (o.BatchMedian, o.BurstEvery, o.BurstSize, o.HeartbeatSeconds, o.BatchIntervalMs, o.FleetPollSeconds));
        Assert.Empty(o.CollectorArgs);
        Assert.Equal(60_000, o.OfferedBatches);
        Assert.Equal((0, 0.0, 0.0), (o.RampSeconds, o.StartMs(0), o.StartMs(999)));
    }

    [Fact]
    public void Parse_Ramp_AgentsComeUpEvenlyAndOfferLess()
    {
        var o = Parse("--agents", "4", "--seconds", "10", "--store", "sqlite", "--ramp-seconds", "4");
        Assert.Equal([0.0, 1000.0, 2000.0, 3000.0], Enumerable.Range(0, 4).Select(o.StartMs));
        // Each agent a batch a second from the moment it comes up: 10 + 9 + 8 + 7.
        Assert.Equal(34, o.OfferedBatches);
    }

    [Fact]
    public void Parse_EveryOption()
    {
        var o = Parse("--store", "sqlite", "--agents", "10", "--seconds", "5", "--connections", "2", "--batch-median", "7", "--burst-every", "0",
            "--burst-size", "300", "--heartbeat-seconds", "3", "--batch-interval-ms", "500", "--fleet-poll-seconds", "0",
            "--collector-arg", "--in-flight-wait-ms", "--collector-arg", "0");
        Assert.Equal((10, 5, "sqlite", 2, 7, 0, 300, 3, 500, 0), (o.Agents, o.Seconds, o.Store, o.Connections, o.BatchMedian, o.BurstEvery, o.BurstSize,
            o.HeartbeatSeconds, o.BatchIntervalMs, o.FleetPollSeconds));
        Assert.Equal(["--in-flight-wait-ms", "0"], o.CollectorArgs);
        // 10 agents, 5 s, a batch every 500 ms.
        Assert.Equal(100, o.OfferedBatches);
    }

    [Theory]
    [InlineData("--agents, --seconds and --store are required", "--agents", "10")]
    [InlineData("--store mysql: sqlite or postgres", "--agents", "10", "--seconds", "5", "--store", "mysql")]
    [InlineData("--agents 0: must be a whole number from 1 to 100000", "--agents", "0")]
    [InlineData("--agents -5: must be a whole number", "--agents", "-5")]
    [InlineData("--seconds ten: must be a whole number", "--seconds", "ten")]
    [InlineData("--batch-interval-ms 5: must be a whole number from 10", "--batch-interval-ms", "5")]
    [InlineData("--connections 11: more than the 10 agents", "--agents", "10", "--seconds", "5", "--store", "sqlite", "--connections", "11")]
    [InlineData("--seconds needs a value", "--seconds")]
    [InlineData("--ramp-seconds 5: must be shorter than the run (--seconds 5)", "--agents", "10", "--seconds", "5", "--store", "sqlite", "--ramp-seconds", "5")]
    [InlineData("unknown option --agent", "--agent", "10")]
    public void Parse_Bad_NamesTheOption(string message, params string[] args)
    {
        var e = Assert.Throws<ArgumentException>(() => Parse(args));
        Assert.StartsWith(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BatchSizes_MedianNearTheAskedOneAndBurstsAtTheirRate()
    {
        var random = new Random(42);
        var sizes = Enumerable.Range(0, 100_000).Select(_ => FleetBatchSizes.Next(random, median: 20, burstEvery: 1000, burstSize: 2000, max: 4096)).ToArray();
        var ordinary = sizes.Where(s => s != 2000).Order().ToArray();
        Assert.InRange(ordinary[ordinary.Length / 2], 19, 21);
        Assert.All(ordinary, s => Assert.InRange(s, 1, 400));
        // 1 in 1000 of 100,000: about 100 bursts.
        Assert.InRange(sizes.Count(s => s == 2000), 60, 140);
        Assert.DoesNotContain(Enumerable.Range(0, 1000).Select(_ => FleetBatchSizes.Next(random, 20, 0, 2000, 4096)), s => s == 2000);
        // Never beyond the events laid out.
        Assert.All(Enumerable.Range(0, 100).Select(_ => FleetBatchSizes.Next(random, 20, 1, 2000, 500)), s => Assert.Equal(500, s));
    }
}

/// <summary><c>fleet</c>'s report: quantiles, CPU per batch and per event, RSS per connection, the share achieved; and the exactly-once check.</summary>
public sealed class FleetReportTests
{
    private static readonly FleetOptions Options = FleetOptions.Parse(["fleet", "--agents", "1000", "--seconds", "60", "--store", "postgres", "--connections", "500"]);

    [Fact]
    public void Quantile_NearestRank()
    {
        double[] values = [.. Enumerable.Range(1, 100).Select(i => (double)i).Reverse()];
        Assert.Equal((50, 99, 100, 1), (FleetReport.Quantile(values, 0.5), FleetReport.Quantile(values, 0.99), FleetReport.Quantile(values, 1), FleetReport.Quantile(values, 0)));
        Assert.Equal(7, FleetReport.Quantile([7], 0.99));
        Assert.True(double.IsNaN(FleetReport.Quantile([], 0.5)));
    }

    [Fact]
    public void Figures_FromTheCountersOfTheRun()
    {
        var r = new FleetReport
        {
            Options = Options,
            ElapsedSeconds = 60,
            BatchesAcked = 30_000,
            EventsAcked = 600_000,
            CollectorCpuSeconds = 45,
            DatabaseCpuSeconds = 60,
            CollectorIdleRssBytes = 100L << 20,
            CollectorLoadedRssBytes = 150L << 20,
            AckLatencyMs = [5, 1, 3],
            FleetViewMs = [100, double.PositiveInfinity],
            FailedCalls = new Dictionary<string, long> { ["Unavailable"] = 2 },
        };
        Assert.Equal((500, 10_000, 20), (r.BatchesPerSecond, r.EventsPerSecond, r.MeanBatchEvents));
        Assert.Equal((1500, 75), (r.CollectorUsPerBatch, r.CollectorUsPerEvent));
        Assert.Equal((2000, 100), (r.DatabaseUsPerBatch, r.DatabaseUsPerEvent));
        Assert.Equal(0.75, r.CollectorCores);
        // 50 MiB over 500 connections.
        Assert.Equal(50.0 * 1048576 / 500, r.RssPerConnectionBytes);
        // 30,000 of 60,000 offered.
        Assert.Equal(0.5, r.AchievedShare);
        string text = r.Text();
        Assert.Contains("p50 3.0 ms, p99 5.0 ms, max 5.0 ms", text);
        Assert.Contains("2 polls, 1 failed", text);
        Assert.Contains("failed calls (retried): Unavailable 2; refused calls: none", text);
    }

    [Fact]
    public void NothingAcknowledged_NoDivisionByZero()
    {
        var r = new FleetReport { Options = Options, ElapsedSeconds = 1 };
        Assert.True(double.IsNaN(r.CollectorUsPerBatch) && double.IsNaN(r.CollectorUsPerEvent) && double.IsNaN(r.DatabaseUsPerEvent));
        Assert.Equal(0, r.MeanBatchEvents);
    }

    [Fact]
    public void Verifier_ExactlyOneToLastAcked_NoProblem()
    {
        var problems = FleetVerifier.Check(
            new Dictionary<string, long> { ["a"] = 3, ["b"] = 0 },
            new Dictionary<string, List<long>> { ["a"] = [3, 1, 2] });
        Assert.Empty(problems);
    }

    [Fact]
    public void Verifier_GapDuplicateUnacknowledgedAndUnknownAgent_EachNamed()
    {
        var problems = FleetVerifier.Check(
            new Dictionary<string, long> { ["gap"] = 4, ["dup"] = 2, ["extra"] = 1 },
            new Dictionary<string, List<long>> { ["gap"] = [1, 2, 4], ["dup"] = [1, 2, 2], ["extra"] = [1, 2], ["stranger"] = [1] });
        Assert.Equal(
        [
            "dup: 1 sequence(s) stored more than once",
            "extra: 1 stored sequence(s) outside the acknowledged 1..1",
            "gap: 1 of the acknowledged sequences 1..4 not stored",
            "stranger: 1 stored sequence(s) outside the acknowledged 1..0",
        ], problems);
    }

    [Fact]
    public void Verifier_UnfinishedBatch_StoredOrNot_ButNothingBeyondIt()
    {
        var unfinished = new Dictionary<string, long> { ["stored"] = 3, ["lost"] = 3, ["beyond"] = 3 };
        var problems = FleetVerifier.Check(
            new Dictionary<string, long> { ["stored"] = 2, ["lost"] = 2, ["beyond"] = 2 },
            new Dictionary<string, List<long>> { ["stored"] = [1, 2, 3], ["lost"] = [1, 2], ["beyond"] = [1, 2, 3, 4] },
            unfinished);
        Assert.Equal(["beyond: 1 stored sequence(s) outside the acknowledged 1..2"], problems);
    }
}
