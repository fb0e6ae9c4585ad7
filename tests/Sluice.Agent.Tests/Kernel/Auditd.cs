using System.Diagnostics;
using Sluice.Audit.Netlink;

namespace Sluice.Agent.Tests.Kernel;

/// <summary>The real auditd (Debian package auditd), started and stopped through its service script.</summary>
internal static class Auditd
{
    public static void Start()
    {
        var (code, output) = AgentProcess.RunTool("service", "auditd start");
        Assert.True(code == 0, $"service auditd start failed: {output}");
        Assert.True(WaitRegistered(TimeSpan.FromSeconds(20)), "auditd did not register as the audit consumer");
    }

    public static void Stop()
    {
        AgentProcess.RunTool("service", "auditd stop");
        var sw = Stopwatch.StartNew();
        while (IsRunning() && sw.Elapsed < TimeSpan.FromSeconds(20))
        {
            Thread.Sleep(100);
        }
    }

    public static bool IsRunning() => AgentProcess.RunTool("pidof", "auditd").ExitCode == 0;

    /// <summary>True once the kernel's registered consumer is a process named auditd.</summary>
    public static bool WaitRegistered(TimeSpan timeout)
    {
        using var control = AuditControlClient.Open();
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < timeout)
        {
            uint pid = control.GetStatus().Pid;
            if (pid != 0 && ProcessNames.Comm(pid) == "auditd")
            {
                return true;
            }
            Thread.Sleep(100);
        }
        return false;
    }

    /// <summary><c>auditctl -s</c> as name → value, without the fields that change by themselves.</summary>
    public static Dictionary<string, string> Settings()
    {
        var (code, output) = AgentProcess.RunTool("auditctl", "-s");
        Assert.Equal(0, code);
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ', 2))
            .Where(p => p[0] is not ("pid" or "lost" or "backlog" or "backlog_wait_time_actual"))
            .ToDictionary(p => p[0], p => p[1]);
    }

    public static string Rules()
    {
        var (code, output) = AgentProcess.RunTool("auditctl", "-l");
        Assert.Equal(0, code);
        return output;
    }
}
