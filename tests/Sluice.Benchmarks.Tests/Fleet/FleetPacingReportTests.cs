using Sluice.Benchmarks.Fleet;

namespace Sluice.Benchmarks.Tests.Fleet;

/// <summary>
/// <c>fleet</c>'s report of pacing: the acks that asked for a pace and how much, the batches held back, how far behind
/// schedule the agents were at the stop; and whether any call failed for lack of resources.
/// </summary>
public sealed class FleetPacingReportTests
{
    private static readonly FleetOptions Options = FleetOptions.Parse(["fleet", "--agents", "100", "--seconds", "60", "--store", "postgres"]);

    [Fact]
    public void Paced_CountShareQuantilesAndHeldBack()
    {
        var r = new FleetReport
        {
            Options = Options,
            ElapsedSeconds = 60,
            BatchesAcked = 200,
            PacedAcks = 50,
            // 10, 20, ... 500 ms, in no order.
            PaceAskedMs = [.. Enumerable.Range(1, 50).Select(i => i * 10.0).Reverse()],
            DeferredBatches = 40,
        };
        Assert.Equal((0.25, 0.2), (r.PacedShare, r.DeferredShare));
        string text = r.Text();
        Assert.Contains("paced: 50 of 200 acks asked for a pace (25.0 %), asked p50 250 ms, p99 500 ms, max 500 ms; 40 batches held back by a pace (20.0 % of those acknowledged)", text);
    }

    [Fact]
    public void NotPaced_NoQuantilesOfNothing()
    {
        var r = new FleetReport { Options = Options, ElapsedSeconds = 60, BatchesAcked = 200 };
        Assert.Equal((0.0, 0.0), (r.PacedShare, r.DeferredShare));
        Assert.Contains("paced: 0 of 200 acks asked for a pace (0.0 %); 0 batches held back by a pace (0.0 % of those acknowledged)", r.Text());
        // Nothing acknowledged: no division by zero.
        var none = new FleetReport { Options = Options, ElapsedSeconds = 1, PacedAcks = 3, DeferredBatches = 2 };
        Assert.Equal((0.0, 0.0), (none.PacedShare, none.DeferredShare));
    }

    [Fact]
    public void BehindScheduleAtTheStop_TimeAndBatchesWaiting()
    {
        // A batch a second: 0 s behind is nothing due; just behind, the one batch due; a whole interval behind, two.
        Assert.Equal([0.0, 1, 1, 2, 3], new[] { 0, 1, 999, 1000, 2500 }.Select(ms => new FleetReport { Options = Options }.BatchesBehind(ms)));
        var r = new FleetReport
        {
            Options = Options,
            ElapsedSeconds = 60,
            // 100 agents: 0, 50, ... 4,950 ms behind, in no order.
            FinalLagMs = [.. Enumerable.Range(0, 100).Select(i => i * 50.0).Reverse()],
        };
        Assert.Contains("behind schedule at the stop, per agent (batches due and not sent: what waits in its spool): p50 2.45 s (3 batches), p99 4.90 s (5 batches), max 4.95 s (5 batches)", r.Text());
    }

    [Fact]
    public void LackOfResources_ExhaustedDeadlineAndUnavailableCounted_NotTheRest()
    {
        var r = new FleetReport
        {
            Options = Options,
            ElapsedSeconds = 60,
            FailedCalls = new Dictionary<string, long> { ["Internal"] = 4, ["Unavailable"] = 2, ["ResourceExhausted"] = 3, ["DeadlineExceeded"] = 1 },
        };
        Assert.Equal(6, r.FailedForLackOfResources);
        Assert.False(r.NoCallFailedForLackOfResources);
        Assert.Contains("no call failed for lack of resources (ResourceExhausted, DeadlineExceeded, Unavailable): NO: 6 calls (DeadlineExceeded 1, ResourceExhausted 3, Unavailable 2)", r.Text());
    }

    [Theory]
    [InlineData("ResourceExhausted")]
    [InlineData("DeadlineExceeded")]
    [InlineData("Unavailable")]
    public void LackOfResources_AnyOneOfTheThree_NotHeld(string code)
    {
        var r = new FleetReport { Options = Options, ElapsedSeconds = 60, FailedCalls = new Dictionary<string, long> { [code] = 1 } };
        Assert.Equal(1, r.FailedForLackOfResources);
        Assert.False(r.NoCallFailedForLackOfResources);
        Assert.Contains($"): NO: 1 calls ({code} 1)", r.Text());
    }

    [Fact]
    public void LackOfResources_OtherFailuresOnly_Held()
    {
        foreach (var failed in new[] { new Dictionary<string, long>(), new Dictionary<string, long> { ["Internal"] = 4, ["ResourceExhausted"] = 0 } })
        {
            var r = new FleetReport { Options = Options, ElapsedSeconds = 60, FailedCalls = failed };
            Assert.Equal(0, r.FailedForLackOfResources);
            Assert.True(r.NoCallFailedForLackOfResources);
            Assert.Contains("no call failed for lack of resources (ResourceExhausted, DeadlineExceeded, Unavailable): yes", r.Text());
        }
    }
}
