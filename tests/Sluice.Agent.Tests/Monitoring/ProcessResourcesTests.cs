using Sluice.Agent.Monitoring;

namespace Sluice.Agent.Tests.Monitoring;

public sealed class ProcessResourcesTests
{
    private const string Status = """
        Name:	sluice-agent
        Umask:	0077
        State:	S (sleeping)
        VmPeak:	  276644 kB
        VmSize:	  276640 kB
        VmHWM:	   45256 kB
        VmRSS:	   40420 kB
        RssAnon:	   22092 kB
        Threads:	11
        """;

    [Fact]
    public void ParseStatus_TakesVmRssAndVmHwmInBytes()
    {
        Assert.Equal((40420L * 1024, 45256L * 1024), ProcessResources.ParseStatus(Status));
    }

    [Fact]
    public void ParseStatus_KernelThreadWithoutMemoryLines_GivesZero()
    {
        Assert.Equal((0L, 0L), ProcessResources.ParseStatus("Name:\tkauditd\nState:\tS (sleeping)\nThreads:\t1\n"));
    }

    [Fact]
    public void CpuPercent_CpuTimeOverWallTime_PerCore()
    {
        var before = new ProcessResources(0, 0, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(2));
        var after = new ProcessResources(0, 0, TimeSpan.FromSeconds(10.3), TimeSpan.FromSeconds(2.1));
        Assert.Equal(40f, ProcessResources.CpuPercent(before, after, TimeSpan.FromSeconds(1)), 3);
        // Two cores busy for the whole interval.
        var busy = new ProcessResources(0, 0, TimeSpan.FromSeconds(12), TimeSpan.FromSeconds(2));
        Assert.Equal(200f, ProcessResources.CpuPercent(before, busy, TimeSpan.FromSeconds(1)), 3);
        Assert.Equal(0f, ProcessResources.CpuPercent(before, after, TimeSpan.Zero));
    }

    [Fact]
    public void Self_MatchesThisProcesssProcStatusAndCpuUsage()
    {
        var cpuBefore = Environment.CpuUsage.TotalTime;
        var self = ProcessResources.Self();
        var (_, peakAfter) = ProcessResources.ParseStatus(File.ReadAllText("/proc/self/status"));

        Assert.True(self.RssBytes > 0, "no VmRSS");
        Assert.True(self.PeakRssBytes >= self.RssBytes, $"peak {self.PeakRssBytes} < rss {self.RssBytes}");
        Assert.True(self.PeakRssBytes <= peakAfter, $"peak {self.PeakRssBytes} above the peak read after it, {peakAfter}");
        Assert.True(self.TotalCpu >= cpuBefore, $"cpu {self.TotalCpu} went back from {cpuBefore}");
        Assert.True(self.UserCpu > TimeSpan.Zero, "a .NET process that ran tests has used user CPU");
    }

    [Fact]
    public void AgentMetrics_SnapshotCarriesTheProcessFiguresAndSampleSetsCpuPercent()
    {
        using var metrics = new AgentMetrics();
        Assert.Equal(0f, metrics.Snapshot().CpuPercent);

        metrics.SampleResources();
        // Spend CPU on this thread between the two samples: the second one sees it.
        var spent = Environment.CpuUsage.TotalTime;
        double sink = 0;
        while (Environment.CpuUsage.TotalTime - spent < TimeSpan.FromMilliseconds(50))
        {
            for (int i = 1; i < 100_000; i++)
            {
                sink += Math.Sqrt(i);
            }
        }
        metrics.SampleResources();
        var snapshot = metrics.Snapshot();

        Assert.True(sink > 0);
        Assert.True(snapshot.CpuPercent > 0, $"cpu_percent {snapshot.CpuPercent}");
        Assert.True(snapshot.RssBytes > 0 && snapshot.PeakRssBytes >= snapshot.RssBytes, $"rss {snapshot.RssBytes}, peak {snapshot.PeakRssBytes}");
        Assert.True(snapshot.CpuUserSeconds > 0, $"user {snapshot.CpuUserSeconds}");
        Assert.True(snapshot.CpuSystemSeconds >= 0, $"system {snapshot.CpuSystemSeconds}");
    }
}
