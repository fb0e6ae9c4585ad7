using System.Diagnostics;
using System.Text.Json;
using Sluice.Audit.Netlink;
using Sluice.Testing;

namespace Sluice.Agent.Tests.Kernel;

/// <summary>The agent as a user runs it: a real process, the real kernel, the real auditd.</summary>
[Collection(KernelAuditFixture.Collection)]
public sealed class AgentRunTests : IDisposable
{
    private readonly KernelStateGuard _guard = new();
    private readonly bool _auditdWasRunning = Auditd.IsRunning();

    public void Dispose()
    {
        if (!_auditdWasRunning)
        {
            Auditd.Stop();
        }
        _guard.Dispose();
    }

    private static string ExecRule(string key) =>
        $"-a always,exit -F arch=b64 -S execve -F key={key}\n-a always,exit -F arch=b32 -S execve -F key={key}\n";

    [Fact]
    public void Run_WithAuditdRunning_TakesOverWritesExactArgvAndRestoresOnSigterm()
    {
        Auditd.Start();
        var settingsBefore = Auditd.Settings();
        string rulesBefore = Auditd.Rules();
        string key = TestRules.UniqueKey("run");
        using var agent = AgentRunner.Start(ExecRule(key));
        agent.WaitReady();

        using (var control = AuditControlClient.Open())
        {
            Assert.Equal((uint)agent.Pid, control.GetStatus().Pid);
        }
        Assert.False(Auditd.IsRunning(), "auditd still runs while the agent holds audit");
        string[][] argvs =
        [
            ["/bin/true", "plain", "with space", "quote\"d", "tab\tx", "new\nline", "ünïcødé", ""],
            ["/bin/true", new string('A', 5000)],
        ];
        var pids = new List<int>();
        foreach (var argv in argvs)
        {
            var psi = new ProcessStartInfo(argv[0]);
            foreach (var a in argv[1..])
            {
                psi.ArgumentList.Add(a);
            }
            using var p = Process.Start(psi)!;
            pids.Add(p.Id);
            p.WaitForExit();
        }
        agent.WaitFor(m => m.Written >= 2 && agent.Events().Count(e => IsExecOf(e, pids)) == pids.Count, TimeSpan.FromSeconds(20), "the exec events");

        int exit = agent.Stop();

        Assert.True(exit == 0, agent.Output);
        var events = agent.Events();
        for (int i = 0; i < argvs.Length; i++)
        {
            var ev = events.Single(e => IsExecOf(e, [pids[i]]));
            Assert.Equal(argvs[i], ev.GetProperty("argv").EnumerateArray().Select(a => a.GetString()!).ToArray());
            Assert.Equal(key, ev.GetProperty("key").GetString());
            Assert.Equal("execve", ev.GetProperty("syscall").GetString());
        }
        Assert.True(Auditd.IsRunning(), "auditd was not started again:\n" + agent.Output);
        Assert.True(Auditd.WaitRegistered(TimeSpan.FromSeconds(20)));
        Assert.Equal(settingsBefore, Auditd.Settings());
        Assert.Equal(rulesBefore, Auditd.Rules());
        Assert.DoesNotContain("sluice", Auditd.Rules());
        Assert.False(File.Exists(Path.Combine(agent.StateDirectory, "kernel-state.json")), "the state file outlived a clean stop");
    }

    private static bool IsExecOf(JsonElement e, IEnumerable<int> pids) =>
        e.TryGetProperty("pid", out var pid) && pids.Contains(pid.GetInt32()) && e.TryGetProperty("argv", out _);

    [Fact]
    public void Kill9ThenRestore_WithAuditdRunning_RestoresSnapshotAndAuditd()
    {
        Auditd.Start();
        var settingsBefore = Auditd.Settings();
        string rulesBefore = Auditd.Rules();
        var agent = AgentRunner.Start(ExecRule(TestRules.UniqueKey("kill")));
        agent.WaitReady();
        Assert.NotEqual(rulesBefore, Auditd.Rules());

        agent.Kill();
        string statePath = Path.Combine(agent.StateDirectory, "kernel-state.json");
        Assert.True(File.Exists(statePath), "the crashed agent left no state file");
        Assert.Equal("-rw-------", AgentProcess.RunTool("stat", $"-c %A {statePath}").Output.Trim());
        var (code, stdout, stderr) = AgentProcess.Run($"restore --config {Path.Combine(agent.Directory, "agent.json")}");

        Assert.True(code == 0, stdout + stderr);
        Assert.Contains("auditd running again", stdout);
        Assert.True(Auditd.WaitRegistered(TimeSpan.FromSeconds(20)));
        Assert.Equal(settingsBefore, Auditd.Settings());
        Assert.Equal(rulesBefore, Auditd.Rules());
        Assert.False(File.Exists(statePath));
        Assert.Equal("nothing to restore", AgentProcess.Run($"restore --config {Path.Combine(agent.Directory, "agent.json")}").Stdout.Split(':')[0]);
    }

    public static TheoryData<string, string, string, int> BadInputs => new()
    {
        { "unknown key", "\"Drian\": { \"IntervalMs\": 100 }", "'Drian'", 2 },
        { "negative interval", "\"Drain\": { \"IntervalMs\": -5 }", "IntervalMs", 2 },
        { "floor above interval", "\"Drain\": { \"IntervalMs\": 50, \"MinIntervalMs\": 100 }", "Drain:MinIntervalMs", 2 },
        { "panic without consent", "\"Kernel\": { \"Failure\": 2 }", "AllowPanic", 2 },
        // An environment variable overrides the file: the documented way to change one key.
        { "unreadable rules file", "env:SLUICE_Rules__Files__0=/nonexistent/audit.rules", "/nonexistent/audit.rules: not found", 3 },
        { "rules file with an error", "", "unknown syscall", 3 },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void Run_BadInput_ExitsNonZeroNamingItAndLeavesKernelUnchanged(string name, string extra, string expected, int exitCode)
    {
        var before = KernelSnapshot.Take();
        string rules = name == "rules file with an error"
            ? "-a always,exit -F arch=b64 -S execve -k fine\n-a always,exit -F arch=b64 -S no_such_call -k bad\n"
            : ExecRule(TestRules.UniqueKey("bad"));
        var env = new Dictionary<string, string>();
        if (extra.StartsWith("env:", StringComparison.Ordinal))
        {
            var kv = extra[4..].Split('=', 2);
            env[kv[0]] = kv[1];
            extra = "";
        }
        using var agent = AgentRunner.Start(rules, extra, env);
        int exit = agent.WaitExit(TimeSpan.FromSeconds(60));

        Assert.True(exit == exitCode, $"{name}: exit {exit}\n{agent.Output}");
        Assert.Contains(expected, agent.Output);
        Assert.Empty(before.Differences(KernelSnapshot.Take()));
        Assert.False(System.IO.Directory.Exists(agent.StateDirectory), "a refused start wrote a state file");
    }
}
