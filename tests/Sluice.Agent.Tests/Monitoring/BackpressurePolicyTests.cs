using Sluice.Agent.Draining;
using Sluice.Agent.Monitoring;

namespace Sluice.Agent.Tests.Monitoring;

public sealed class BackpressurePolicyTests
{
    private static LossReading Calm => new(default, 0.01, 0, 65752);

    [Fact]
    public void Decide_SocketOverruns_GoesToFloorAndGrowsBuffer()
    {
        var d = new BackpressurePolicy(0.5, 3).Decide(Calm with { Loss = new() { SocketOverruns = 10, Enobufs = 1 } });
        Assert.True(d.SpeedUp && d.ToFloor && d.GrowBuffer);
        Assert.False(d.GrowBacklog);
        Assert.Contains("socket dropped 10", d.Reason);
    }

    [Fact]
    public void Decide_FillOverThreshold_HalvesWithoutLoss()
    {
        var d = new BackpressurePolicy(0.5, 3).Decide(Calm with { SocketFill = 0.7 });
        Assert.True(d.SpeedUp && d.GrowBuffer);
        Assert.False(d.ToFloor);
    }

    [Fact]
    public void Decide_KernelLostOrBacklogHigh_GrowsBacklog()
    {
        var policy = new BackpressurePolicy(0.5, 3);
        Assert.True(policy.Decide(Calm with { Loss = new() { KernelLost = 1 } }).GrowBacklog);
        Assert.True(policy.Decide(Calm with { Backlog = 40000 }).GrowBacklog);
        Assert.True(policy.Decide(Calm with { Loss = new() { BacklogWaitTimeActual = 5 } }).GrowBacklog);
    }

    [Fact]
    public void Decide_CalmTicks_RelaxOnlyAfterTheConfiguredRun()
    {
        var policy = new BackpressurePolicy(0.5, 3);
        Assert.False(policy.Decide(Calm).Relax);
        Assert.False(policy.Decide(Calm).Relax);
        Assert.True(policy.Decide(Calm).Relax);
        Assert.False(policy.Decide(Calm with { Loss = new() { SerialGaps = 2 } }).Relax);
        Assert.False(policy.Decide(Calm).Relax);
    }

    [Theory]
    [InlineData(40_000, 1000, 1280, 4.0, 204_800_000)]
    [InlineData(40_000, 100, 1280, 4.0, 204_800_000)] // at least one second's worth
    [InlineData(0, 100, 1280, 4.0, 1 << 20)]          // floor
    [InlineData(1_000_000, 1000, 1280, 4.0, 256 << 20)] // cap
    public void ReservoirSizer_RateIntervalTruesizeHeadroom_ClampedToFloorAndCap(double rate, int intervalMs, int truesize, double headroom, int expected)
    {
        Assert.Equal(expected, ReservoirSizer.Size(rate, TimeSpan.FromMilliseconds(intervalMs), truesize, headroom, 1 << 20, 256 << 20));
    }
}
