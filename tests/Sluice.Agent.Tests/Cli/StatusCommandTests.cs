using System.Globalization;
using System.Text.Json;
using Sluice.Audit.Netlink;
using Sluice.Testing;

namespace Sluice.Agent.Tests.Cli;

[Collection(KernelAuditFixture.Collection)]
public sealed class StatusCommandTests : IDisposable
{
    private readonly KernelStateGuard _guard = new();

    public void Dispose() => _guard.Dispose();

    [Fact]
    public void StatusJson_ComparedWithAuditctl_EverySharedFieldEqual()
    {
        // Make the values distinctive so a wrong field mapping cannot pass by coincidence.
        using (var client = AuditControlClient.Open())
        {
            client.SetBacklogLimit(4321);
            client.SetRateLimit(17);
            client.SetBacklogWaitTime(0);
        }
        var before = AuditctlStatus();

        var (exit, stdout, stderr) = AgentProcess.Run("status --json");

        var after = AuditctlStatus();
        Assert.True(exit == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var root = json.RootElement;
        string[] settled = ["enabled", "failure", "pid", "rate_limit", "backlog_limit", "backlog_wait_time", "loginuid_immutable"];
        foreach (var name in settled)
        {
            Assert.True(before.ContainsKey(name), $"auditctl -s has no {name}");
            Assert.Equal(before[name], root.GetProperty(name).GetRawText());
        }
        // Live counters move while nobody consumes (every settings change above logs a record):
        // the agent's read lies between the two auditctl reads around it.
        foreach (var name in (string[])["lost", "backlog_wait_time_actual"])
        {
            long value = root.GetProperty(name).GetInt64();
            Assert.InRange(value, long.Parse(before[name], CultureInfo.InvariantCulture), long.Parse(after[name], CultureInfo.InvariantCulture));
        }
        long backlog = root.GetProperty("backlog").GetInt64();
        Assert.InRange(backlog, 0, 4321);
        Assert.True(before.ContainsKey("backlog"), "auditctl -s has no backlog");
        Assert.Equal("4321", root.GetProperty("backlog_limit").GetRawText());
        Assert.Equal("17", root.GetProperty("rate_limit").GetRawText());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("consumer_comm").ValueKind);
        Assert.Equal(KernelSnapshot.Take().Rules.Count, root.GetProperty("rules").GetInt32());
    }

    [Fact]
    public void Status_RunningAgent_ReportsItsOwnMemoryAndCpuAsProcShowsThem()
    {
        using var agent = AgentRunner.Start($"-a always,exit -F arch=b64 -S execve -F key={TestRules.UniqueKey("self")}\n");
        agent.WaitReady();
        // Two monitor ticks: the second sets the share of a core over the interval between them
        // (the drain runs every 200 ms, so an idle agent's share is above zero too).
        agent.WaitFor(m => m.CpuPercent > 0, TimeSpan.FromSeconds(30), "the CPU share of a monitor interval");
        var cpuBefore = ProcStat.Cpu(agent.Pid)!.Value;

        var (exit, stdout, stderr) = AgentProcess.Run($"status --json --socket {agent.SocketPath}");

        var cpuAfter = ProcStat.Cpu(agent.Pid)!.Value;
        long peakAfterKb = ProcStat.PeakRssKb(agent.Pid)!.Value;
        Assert.True(exit == 0, stderr);
        var a = JsonDocument.Parse(stdout).RootElement.GetProperty("agent");
        long rss = a.GetProperty("rss_bytes").GetInt64();
        long peak = a.GetProperty("peak_rss_bytes").GetInt64();
        Assert.InRange(rss, 1L << 20, peak);
        Assert.InRange(peak, rss, peakAfterKb * 1024);
        // The kernel counts in clock ticks (/proc/PID/stat), the agent in microseconds (getrusage):
        // its reading lies between the two tick counts read around it, within a tick each for user and system.
        double cpu = a.GetProperty("cpu_user_seconds").GetDouble() + a.GetProperty("cpu_system_seconds").GetDouble();
        double tick = 1.0 / ProcStat.TicksPerSecond;
        Assert.InRange(cpu, cpuBefore.Own * tick, (cpuAfter.Own + 2) * tick);
        Assert.InRange(a.GetProperty("cpu_percent").GetDouble(), 0.0, 100.0 * Environment.ProcessorCount);

        var (textExit, text, textErr) = AgentProcess.Run($"status --socket {agent.SocketPath}");
        Assert.True(textExit == 0, textErr);
        Assert.Matches(@"\n  process     rss \d+\.\d MiB \(peak \d+\.\d MiB\), cpu \d+\.\d\d s user \+ \d+\.\d\d s system, \d+\.\d % of a core", text);
    }

    private static Dictionary<string, string> AuditctlStatus()
    {
        var (code, output) = AgentProcess.RunTool("auditctl", "-s");
        Assert.True(code == 0, $"auditctl -s failed (is auditd installed?): {output}");
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' '))
            .ToDictionary(p => p[0], p => p[1]);
    }

    [Fact]
    public void StatusText_UsesAuditctlNamesAndOrder()
    {
        var (code, auditctl) = AgentProcess.RunTool("auditctl", "-s");
        Assert.Equal(0, code);
        var (exit, stdout, stderr) = AgentProcess.Run("status");
        Assert.True(exit == 0, stderr);
        var ours = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')[0]).ToList();
        var theirs = auditctl.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')[0]).ToList();
        Assert.Equal(theirs, ours.Take(theirs.Count));
        Assert.Contains("rules", ours);
    }

    [Fact]
    public void Status_AsUnprivilegedUser_ExitsNonZeroSayingWhatToDo()
    {
        var (exit, stdout, stderr) = AgentProcess.Run("status --json", runAsUser: "65534");

        Assert.Equal(4, exit);
        Assert.Equal("", stdout);
        Assert.Contains("permission denied", stderr);
        Assert.Contains("CAP_AUDIT_CONTROL", stderr);
    }
}
