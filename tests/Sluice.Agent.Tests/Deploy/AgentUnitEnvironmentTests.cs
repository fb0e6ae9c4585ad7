using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Sluice.Agent.Kernel;
using Sluice.Agent.Status;
using Sluice.Agent.Tests.Kernel;
using Sluice.Audit.Netlink;
using Sluice.Testing;

namespace Sluice.Agent.Tests.Deploy;

/// <summary>
/// The agent as deploy/systemd/sluice-agent.service runs it, as far as this machine can without
/// systemd as init: only the capabilities of the unit's CapabilityBoundingSet, no_new_privs,
/// a parent process named systemd and a NOTIFY_SOCKET (so the host's systemd integration is
/// on).
/// </summary>
/// <remarks>
/// auditd is not running here. Without systemd, the agent's `service auditd start` at stop would
/// run auditd as the agent's own child, inside the agent's bounding set, where auditd cannot
/// raise its priority (CAP_SYS_NICE, priority_boost) and exits; under systemd, PID 1 starts it
/// in its own unit. The takeover from a running auditd is covered by the quickstart test and
/// the kernel tests, with full capabilities.
/// </remarks>
[Collection(KernelAuditFixture.Collection)]
public sealed class AgentUnitEnvironmentTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-unit-env-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The capabilities the unit file grants, in setpriv's spelling (audit_control, ...).</summary>
    private static List<string> UnitCapabilities()
    {
        string unit = File.ReadAllText(DeployScripts.Script("systemd/sluice-agent.service"));
        var line = unit.Split('\n').Single(l => l.StartsWith("CapabilityBoundingSet=", StringComparison.Ordinal));
        return line["CapabilityBoundingSet=".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(c => c.ToLowerInvariant().Replace("cap_", "")).ToList();
    }

    [Fact]
    public void Agent_WithUnitCapabilitiesUnderNotify_ReadyAfterTakeoverStoppingAtStopHostRestored()
    {
        bool auditdWasRunning = Auditd.IsRunning();
        if (auditdWasRunning)
        {
            Auditd.Stop();
        }
        var guard = new KernelStateGuard();
        Process? wrapper = null;
        try
        {
            var before = KernelSnapshot.Take();
            var caps = UnitCapabilities();
            Assert.Contains("audit_control", caps);

            using var notify = Notify();
            string key = TestRules.UniqueKey("unit");
            var log = new StringBuilder();
            wrapper = StartAsTheUnit($"-a always,exit -F arch=b64 -S execve -F key={key}\n", caps, log);
            string Log() { lock (log) { return log.ToString(); } }

            string ready = Receive(notify, Log);
            Assert.Contains("READY=1", ready);
            // READY comes after the takeover: the agent is the consumer.
            using var control = AuditControlClient.Open();
            uint agentPid = control.GetStatus().Pid;
            Assert.True(agentPid != 0 && ParentPid(agentPid) == wrapper.Id, $"the consumer is pid {agentPid}, not the agent under the wrapper\n{Log()}");
            // The limited capabilities still allow every part of the work.
            Assert.Equal(caps.Order(), Capabilities(agentPid).Order());
            // The status socket is bound by a background service, which may come just after READY.
            var sw = Stopwatch.StartNew();
            Sluice.Agent.Monitoring.MetricsSnapshot? metrics;
            while ((metrics = StatusServer.Query(Path.Combine(_dir, "agent.sock"), TimeSpan.FromSeconds(2))) is null && sw.Elapsed < TimeSpan.FromSeconds(30))
            {
                Thread.Sleep(50);
            }
            _ = metrics ?? throw new TimeoutException($"no answer on the status socket:\n{Log()}");
            Assert.True(metrics.ReceiveBufferBytes >= 32 << 20, $"receive buffer {metrics.ReceiveBufferBytes}: SO_RCVBUFFORCE refused?\n{Log()}");
            Assert.Equal(1, metrics.RulesLoaded);
            using (var p = Process.Start("/bin/true", [key]))
            {
                p.WaitForExit();
            }
            // Wait for our exec in the sink itself: the event counter also counts every other exec on
            // the host, and the sink writes a little after the count.
            string sink = Path.Combine(_dir, "events.jsonl");
            string SinkText() => File.Exists(sink) ? File.ReadAllText(sink) : "";
            sw.Restart();
            while (!SinkText().Contains(key, StringComparison.Ordinal) && sw.Elapsed < TimeSpan.FromSeconds(30))
            {
                Thread.Sleep(100);
            }
            Assert.Contains(key, SinkText());

            Tmds.Linux.LibC.kill((int)agentPid, Tmds.Linux.LibC.SIGTERM);
            Assert.Contains("STOPPING=1", Receive(notify, Log));
            Assert.True(wrapper.WaitForExit(TimeSpan.FromMinutes(2)), Log());
            wrapper.WaitForExit();
            Assert.True(wrapper.ExitCode == 0, $"exit {wrapper.ExitCode}\n{Log()}");

            AssertRestored(before);
        }
        finally
        {
            KillAndDispose(wrapper);
            guard.Dispose();
            if (auditdWasRunning)
            {
                Auditd.Start();
            }
        }
    }

    /// <summary>
    /// auditd running at start, and no systemd: at stop the agent's `service auditd start` runs
    /// auditd inside the unit's bounding set, where it cannot start. The stop must still end in
    /// bounded time, restore everything else, and name the command, its exit code and its output.
    /// (Under systemd the agent asks PID 1 instead, and auditd starts in its own unit.)
    /// </summary>
    [SkippableFact]
    public void Agent_WithUnitCapabilitiesNoSystemd_AuditdCannotStartAgain_ReportedWithCommandAndExitCode_StopBounded()
    {
        Skip.If(AuditdService.IsSystemd, "systemd is init here: the agent asks systemd to start auditd, outside its bounding set");
        bool auditdWasRunning = Auditd.IsRunning();
        var guard = new KernelStateGuard();
        Process? wrapper = null;
        try
        {
            if (!auditdWasRunning)
            {
                Auditd.Start();
            }
            var before = KernelSnapshot.Take();
            var caps = UnitCapabilities();
            using var notify = Notify();
            var log = new StringBuilder();
            wrapper = StartAsTheUnit($"-a always,exit -F arch=b64 -S execve -F key={TestRules.UniqueKey("unit")}\n", caps, log);
            string Log() { lock (log) { return log.ToString(); } }
            Assert.Contains("READY=1", Receive(notify, Log));
            using var control = AuditControlClient.Open();
            uint agentPid = control.GetStatus().Pid;
            Assert.True(agentPid != 0 && ParentPid(agentPid) == wrapper.Id, $"the consumer is pid {agentPid}, not the agent\n{Log()}");
            Assert.False(Auditd.IsRunning(), "auditd still runs after the takeover\n" + Log());

            Tmds.Linux.LibC.kill((int)agentPid, Tmds.Linux.LibC.SIGTERM);
            Assert.Contains("STOPPING=1", Receive(notify, Log));
            // Bounded: the final drain, then one start command and the wait for auditd to register,
            // both within TakeoverTimeoutSeconds (15 s); far less than the unit's TimeoutStopSec.
            Assert.True(wrapper.WaitForExit(TimeSpan.FromMinutes(2)), "the stop hung\n" + Log());
            wrapper.WaitForExit();
            string output = Log();
            Assert.True(wrapper.ExitCode == 0, $"exit {wrapper.ExitCode}\n{output}");
            Assert.Contains("auditd did not start again: auditd was running before the agent but is not the audit consumer after `service auditd start`: exit ", output);
            Assert.Contains("Restore: auditd was running before the agent", output);

            // Everything else is back; only the consumer differs (auditd is not running).
            AssertRestored(before);
        }
        finally
        {
            KillAndDispose(wrapper);
            guard.Dispose();
            // The host as found: auditd as it was, started here with full capabilities.
            if (auditdWasRunning && !Auditd.IsRunning())
            {
                Auditd.Start();
            }
            else if (!auditdWasRunning && Auditd.IsRunning())
            {
                Auditd.Stop();
            }
        }
    }

    /// <summary>The socket sd_notify messages arrive at, as they would at systemd.</summary>
    private Socket Notify()
    {
        var notify = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        notify.Bind(new UnixDomainSocketEndPoint(Path.Combine(_dir, "notify")));
        notify.ReceiveTimeout = 90_000;
        return notify;
    }

    /// <summary>
    /// Starts the agent with <paramref name="caps"/> as its bounding set, no_new_privs, under a parent
    /// named systemd and with a NOTIFY_SOCKET (Microsoft.Extensions.Hosting.Systemd turns on when the
    /// parent process is named systemd); its output goes to <paramref name="log"/>.
    /// </summary>
    private Process StartAsTheUnit(string rules, List<string> caps, StringBuilder log)
    {
        File.WriteAllText(Path.Combine(_dir, "audit.rules"), rules);
        File.WriteAllText(Path.Combine(_dir, "agent.json"), AgentRunner.Config(_dir, ""));
        string systemd = Path.Combine(_dir, "systemd");
        File.CreateSymbolicLink(systemd, "/bin/bash");
        var psi = new ProcessStartInfo("setpriv")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in new[] { "--bounding-set", "-all," + string.Join(',', caps.Select(c => "+" + c)), "--inh-caps=-all", "--no-new-privs", "--",
            systemd, "-c", $"{AgentProcess.ExePath} run --config {Path.Combine(_dir, "agent.json")} & wait $!" })
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment["NOTIFY_SOCKET"] = Path.Combine(_dir, "notify");
        psi.Environment["DOTNET_NOLOGO"] = "1";
        var wrapper = new Process { StartInfo = psi };
        wrapper.OutputDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        wrapper.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        wrapper.Start();
        wrapper.BeginOutputReadLine();
        wrapper.BeginErrorReadLine();
        return wrapper;
    }

    private static string Receive(Socket socket, Func<string> log)
    {
        var buffer = new byte[4096];
        try
        {
            int n = socket.Receive(buffer);
            return Encoding.UTF8.GetString(buffer, 0, n);
        }
        catch (SocketException e)
        {
            throw new TimeoutException($"no sd_notify message: {e.Message}\n{log()}");
        }
    }

    /// <summary>The kernel's audit state is as <paramref name="before"/> but for the consumer's pid.</summary>
    private static void AssertRestored(KernelSnapshot before)
    {
        var differences = before.Differences(KernelSnapshot.Take()).Where(d => !d.StartsWith("pid:", StringComparison.Ordinal)).ToList();
        Assert.True(differences.Count == 0, "not restored: " + string.Join("; ", differences));
    }

    /// <summary>The unit's wrapper, and the agent under it, gone whatever the test left running.</summary>
    private static void KillAndDispose(Process? wrapper)
    {
        if (wrapper is { HasExited: false })
        {
            wrapper.Kill(entireProcessTree: true);
        }
        wrapper?.Dispose();
    }

    private static int ParentPid(uint pid) => ProcStat.Parse(File.ReadAllText($"/proc/{pid}/stat")).Ppid;

    /// <summary>Names of the capabilities in a process's effective set (CapEff in /proc/PID/status).</summary>
    private static List<string> Capabilities(uint pid)
    {
        string hex = File.ReadLines($"/proc/{pid}/status").Single(l => l.StartsWith("CapEff:", StringComparison.Ordinal))["CapEff:".Length..].Trim();
        ulong bits = Convert.ToUInt64(hex, 16);
        // linux/capability.h
        var names = new Dictionary<int, string> { [5] = "kill", [12] = "net_admin", [29] = "audit_write", [30] = "audit_control", [37] = "audit_read" };
        var found = new List<string>();
        for (int bit = 0; bit < 64; bit++)
        {
            if ((bits & (1UL << bit)) != 0)
            {
                found.Add(names.TryGetValue(bit, out var name) ? name : $"cap#{bit}");
            }
        }
        return found;
    }
}
