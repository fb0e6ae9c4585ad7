using System.Diagnostics;
using Sluice.Testing;

namespace Sluice.Agent.Tests.Kernel;

/// <summary>The loss monitor on the real kernel: a reservoir too small for a burst loses, is noticed, and adapts.</summary>
[Collection(KernelAuditFixture.Collection)]
public sealed class BackpressureTests : IDisposable
{
    private readonly KernelStateGuard _guard = new();

    public void Dispose() => _guard.Dispose();

    private static int Burst(int count, int rate)
    {
        var psi = new ProcessStartInfo(NativeTools.Get("syscall_burst"), $"{count} {rate}") { RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        int pid = int.Parse(p.StandardOutput.ReadLine()!);
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
        return pid;
    }

    [Fact]
    public void Burst_SmallBufferLongInterval_LossCountedThenAdaptedThenSameBurstLossless()
    {
        const int events = 20_000;
        const int rate = 20_000;
        string key = TestRules.UniqueKey("bp");
        // 64 KiB of buffer drained every 2 s holds about a hundred records: far too small. The
        // backlog starts at 8192 records, which the burst (3 records an event) overruns: the
        // default 65752 would hold the whole burst.
        using var agent = AgentRunner.Start($"-a always,exit -F arch=b64 -S getppid -F key={key}\n", """
            "Kernel": { "BacklogLimit": 8192 },
            "Drain": { "IntervalMs": 2000, "MinIntervalMs": 10 },
            "Reservoir": { "InitialBufferBytes": 65536, "MaxBufferBytes": 268435456 },
            "Monitor": { "IntervalMs": 250, "CalmTicksToRelax": 3600 }
            """);
        var start = agent.WaitReady();
        Assert.Equal(2000, start.IntervalMs);

        // The agent is held still (SIGSTOP) while the first burst runs, so the burst overruns the
        // small reservoir and the backlog whatever this host's timing. Left running, a monitor tick
        // early in the burst could grow the buffer in time for the whole burst to fit: CI saw it.
        int first;
        Assert.Equal(0, Tmds.Linux.LibC.kill(agent.Pid, Tmds.Linux.LibC.SIGSTOP));
        try
        {
            first = Burst(events, rate);
        }
        finally
        {
            Tmds.Linux.LibC.kill(agent.Pid, Tmds.Linux.LibC.SIGCONT);
        }
        var lossy = agent.WaitFor(m => m.TotalLoss > 0 && m.Continuous, TimeSpan.FromSeconds(30), "loss to be noticed and the drain to go continuous");
        // Let the kernel's retry queue empty and the counters settle.
        var settled = lossy;
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(30))
        {
            Thread.Sleep(1500);
            var next = agent.Metrics();
            if (next.TotalLoss == settled.TotalLoss && next.Records == settled.Records)
            {
                break;
            }
            settled = next;
        }
        Assert.True(settled.Adjustments >= 2, $"adjustments: {settled.Adjustments}");
        Assert.True(settled.ReceiveBufferBytes > start.ReceiveBufferBytes * 4, $"buffer {start.ReceiveBufferBytes} -> {settled.ReceiveBufferBytes}");
        Assert.True(settled.SocketOverruns + settled.KernelLost + settled.SerialGaps > 0);
        int firstDelivered = agent.Events().Count(e => e.TryGetProperty("pid", out var p) && p.GetInt32() == first);
        Assert.True(firstDelivered < events, $"the first burst was not lossy: {firstDelivered} of {events} delivered");

        int second = Burst(events, rate);
        var after = agent.WaitFor(m => m.Events >= settled.Events + events, TimeSpan.FromSeconds(60), "the second burst");
        Thread.Sleep(1000); // one more monitor tick to count any loss of the burst's tail
        after = agent.Metrics();
        Assert.Equal(0, agent.Stop());

        int secondDelivered = agent.Events().Count(e => e.TryGetProperty("pid", out var p) && p.GetInt32() == second);
        Assert.Equal(events, secondDelivered);
        Assert.Equal(settled.TotalLoss, after.TotalLoss);
        Assert.Contains("Loss: ", agent.Output);
        // A filling socket may halve the interval first; loss takes it to the floor.
        Assert.Matches(@"Drain interval \d+ ms -> 10 ms", agent.Output);
    }
}
