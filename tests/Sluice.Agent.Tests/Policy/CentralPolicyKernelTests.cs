using Sluice.Agent.Policy;
using Sluice.Audit.Netlink;
using Sluice.Agent.Tests.Kernel;
using Sluice.Agent.Tests.Shipping;
using Sluice.Testing;

namespace Sluice.Agent.Tests.Policy;

/// <summary>
/// Central policy end to end on the real kernel: the published agent, a real gRPC collector on
/// 127.0.0.1 whose heartbeat replies carry the policy (<see cref="PolicyDesk"/>), and the kernel's
/// rules as <c>auditctl -l</c> lists them.
/// </summary>
[Collection(KernelAuditFixture.Collection)]
public sealed class CentralPolicyKernelTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

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

    private static string Rule(string key, string syscall = "getsid") => $"-a always,exit -F arch=b64 -S {syscall} -F key={key}\n";

    private static string DropFilter(string name) => $$"""[ { "Name": "{{name}}", "Comm": [ "sluice-no-such-comm" ] } ]""";

    /// <summary>The agent ships to <paramref name="collector"/> and sends a heartbeat every second.</summary>
    private static AgentRunner StartAgent(TestCollector collector, string localRules) => AgentRunner.Start(localRules, dir => $$"""
        "AgentId": "policy-test-{{Guid.NewGuid():N}}",
        "Sink": { "Type": "Collector" },
        "Spool": { "Directory": "{{dir}}/spool" },
        "Shipping": { "CollectorUrl": "{{collector.Url}}", "Token": "{{collector.Token}}", "AllowInsecureTransport": true, "QuarantineDirectory": "{{dir}}/quarantine" },
        "Monitor": { "HeartbeatIntervalMs": 1000 }
        """);

    /// <summary>The lines of <c>auditctl -l</c> with a key that starts with <paramref name="prefix"/> (syscall rules show it as key=, watches as -k), in the kernel's order.</summary>
    private static List<string> Listed(string prefix) =>
        [.. Auditd.Rules().Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(l => l.Contains("key=" + prefix, StringComparison.Ordinal) || l.Contains("-k " + prefix, StringComparison.Ordinal))];

    private static string StatusText(AgentRunner agent)
    {
        var (code, stdout, stderr) = AgentProcess.Run($"status --socket {agent.SocketPath}");
        Assert.True(code == 0, stderr);
        return stdout;
    }

    /// <summary>Sets <paramref name="rules"/> at the collector and waits until a heartbeat reports it in force; returns that heartbeat's index.</summary>
    private static (Protocol.V1.Policy Policy, int Set, int InForce) Assign(PolicyDesk desk, AgentRunner agent, string rules, string filters)
    {
        var (policy, before) = desk.Set(rules, filters);
        int inForce = desk.WaitFor(before, h => h.PolicyHash == policy.Hash, Timeout, "the policy in force", () => agent.Output);
        return (policy, before, inForce);
    }

    [Fact]
    public async Task NewPolicyAtCollector_InForceInTheKernelWithinOneHeartbeat_FiltersSwapped_KeptOnDisk()
    {
        await using var collector = await TestCollector.StartAsync();
        var desk = new PolicyDesk(collector, "web");
        string key = TestRules.UniqueKey("policy");
        using var agent = StartAgent(collector, Rule(key + "-local"));
        agent.WaitReady();
        desk.WaitFor(0, _ => true, Timeout, "the first heartbeat", () => agent.Output);
        Assert.Equal([Rule(key + "-local").Trim()], Listed(key));
        Assert.Equal("", desk.Exchanges[0].Heartbeat.PolicyHash);
        Assert.Equal(PolicySources.Local, agent.Metrics().Policy.Source);

        string rules = "# central\n" + Rule(key + "-a") + Rule(key + "-b", "getppid");
        var (policy, before, inForce) = Assign(desk, agent, rules, DropFilter("policy-drop"));

        // The reply to the first heartbeat after the policy was set carried it, and the very next
        // heartbeat reports it in force: within one heartbeat interval.
        var exchanges = desk.Exchanges;
        Assert.Equal(policy.Hash, exchanges[before].Sent);
        Assert.Equal(before + 1, inForce);
        Assert.Equal([Rule(key + "-a").Trim(), Rule(key + "-b", "getppid").Trim()], Listed(key));
        var m = agent.Metrics();
        Assert.Equal((PolicySources.Central, policy.Hash, "web", ""), (m.Policy.Source, m.Policy.Hash, m.Policy.Group, m.Policy.RefusedHash));
        Assert.Equal(["policy-drop"], m.FilterRules.Select(f => f.Name));
        Assert.Equal(m.RulesHash, exchanges[inForce].Heartbeat.RulesHash);
        Assert.Equal(2, exchanges[inForce].Heartbeat.Rules.Count(r => r.Contains(key, StringComparison.Ordinal)));
        Assert.Contains($"policy: {policy.Hash[..12]} (central, group web)", StatusText(agent));
        string kept = LastGoodPolicy.PathIn(agent.StateDirectory);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(kept));
        Assert.Equal(policy.Hash, LastGoodPolicy.Load(agent.StateDirectory)!.Hash);
        // Not sent again once in force.
        desk.WaitFor(inForce + 2, _ => true, Timeout, "two more heartbeats");
        Assert.Single(desk.Exchanges, e => e.Sent.Length > 0);

        // The watchdog reasserts the policy's rules, not the local file's.
        using (var control = AuditControlClient.Open())
        {
            control.DeleteRule(control.ListRules().Single(r => r.Keys.Contains(key + "-a")));
        }
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (Listed(key).Count < 2 && sw.Elapsed < Timeout)
        {
            Thread.Sleep(200);
        }
        Assert.Equal(new[] { Rule(key + "-a").Trim(), Rule(key + "-b", "getppid").Trim() }.Order(StringComparer.Ordinal), Listed(key).Order(StringComparer.Ordinal));
        Assert.True(agent.Metrics().WatchdogReasserts >= 1);

        Assert.Equal(0, agent.Stop());
        Assert.Empty(Listed(key));
    }

    [Fact]
    public async Task BrokenPolicy_RefusedWithLineAndReasonInTheNextHeartbeat_OldRulesStayExactly_NotRetried()
    {
        await using var collector = await TestCollector.StartAsync();
        var desk = new PolicyDesk(collector, "db");
        string key = TestRules.UniqueKey("policy-bad");
        using var agent = StartAgent(collector, Rule(key + "-local"));
        agent.WaitReady();
        var (good, _, _) = Assign(desk, agent, Rule(key + "-a") + Rule(key + "-b"), DropFilter("good-drop"));
        string rulesBefore = Auditd.Rules();
        Assert.Equal(2, Listed(key).Count);

        // Valid lines first (the kernel takes them), then one it refuses: the parent of the watched path does not exist.
        string refused = Rule(key + "-b") + Rule(key + "-new") + $"-w /nonexistent-sluice-{Guid.NewGuid():N}/x -p wa -k {key}-watch\n" + Rule(key + "-after");
        var (bad, before) = desk.Set(refused, DropFilter("bad-drop"));
        int reported = desk.WaitFor(before, h => h.PolicyRefusedHash == bad.Hash, Timeout, "the refusal", () => agent.Output);

        var heartbeat = desk.Exchanges[reported].Heartbeat;
        Assert.Equal(before + 1, reported);
        Assert.Equal(good.Hash, heartbeat.PolicyHash);
        Assert.StartsWith("policy:3: the kernel refused the rule: ", heartbeat.PolicyRefusal);
        Assert.Equal(rulesBefore, Auditd.Rules());
        Assert.Equal(["good-drop"], agent.Metrics().FilterRules.Select(f => f.Name));
        string status = StatusText(agent);
        Assert.Contains($"policy: {good.Hash[..12]} (central, group db)", status);
        Assert.Contains($"policy refused: {bad.Hash[..12]} at ", status);
        Assert.Contains(heartbeat.PolicyRefusal, status);

        // Not tried again: the collector does not send it, and the kernel's rules do not move.
        int later = desk.WaitFor(reported + 2, _ => true, Timeout, "two more heartbeats");
        Assert.Single(desk.Exchanges, e => e.Sent == bad.Hash);
        Assert.Equal(bad.Hash, desk.Exchanges[later].Heartbeat.PolicyRefusedHash);
        Assert.Equal(rulesBefore, Auditd.Rules());

        // A policy that does not compile: refused naming its line, nothing of it loaded.
        var (unparsable, before2) = desk.Set(Rule(key + "-p1") + "-a always,exit -F arch=b64 -S no_such_syscall -F key=x\n", DropFilter("other-drop"));
        int reported2 = desk.WaitFor(before2, h => h.PolicyRefusedHash == unparsable.Hash, Timeout, "the second refusal", () => agent.Output);
        var heartbeat2 = desk.Exchanges[reported2].Heartbeat;
        Assert.Equal(before2 + 1, reported2);
        Assert.Equal(good.Hash, heartbeat2.PolicyHash);
        Assert.StartsWith("the rules have 1 error(s); nothing was loaded: policy:2: ", heartbeat2.PolicyRefusal);
        Assert.Equal(rulesBefore, Auditd.Rules());
        Assert.Equal(["good-drop"], agent.Metrics().FilterRules.Select(f => f.Name));

        Assert.Equal(0, agent.Stop());
        Assert.Empty(Listed(key));
    }

    [Fact]
    public async Task RestartWithCollectorDown_LastGoodPolicyLoadedFromDisk_CorruptFileFallsBackToLocalFiles()
    {
        var collector = await TestCollector.StartAsync();
        var desk = new PolicyDesk(collector, "web");
        string key = TestRules.UniqueKey("policy-disk");
        string dir;
        Protocol.V1.Policy policy;
        using (var agent = StartAgent(collector, Rule(key + "-local")))
        {
            agent.WaitReady();
            (policy, _, _) = Assign(desk, agent, Rule(key + "-a") + Rule(key + "-b", "getppid"), DropFilter("policy-drop"));
            dir = agent.Directory;
            Assert.Equal(0, agent.Stop());
        }
        Assert.Empty(Listed(key));
        await collector.DisposeAsync();

        using (var again = AgentRunner.StartIn(dir))
        {
            var m = again.WaitReady();
            Assert.Equal((PolicySources.LastGood, policy.Hash, "web"), (m.Policy.Source, m.Policy.Hash, m.Policy.Group));
            Assert.Equal([Rule(key + "-a").Trim(), Rule(key + "-b", "getppid").Trim()], Listed(key));
            Assert.Equal(["policy-drop"], m.FilterRules.Select(f => f.Name));
            Assert.Contains($"policy: {policy.Hash[..12]} (last good from disk, group web)", StatusText(again));
            again.WaitForOutput("read from");
            Assert.Equal(0, again.Stop());
        }
        Assert.Empty(Listed(key));

        File.WriteAllText(LastGoodPolicy.PathIn(Path.Combine(dir, "state")), "{ \"hash\": \"0123\", \"rules\": ");
        using (var third = AgentRunner.StartIn(dir))
        {
            var m = third.WaitReady();
            Assert.Equal((PolicySources.Local, ""), (m.Policy.Source, m.Policy.Hash));
            Assert.Contains("unusable", m.Policy.Note);
            Assert.Equal([Rule(key + "-local").Trim()], Listed(key));
            Assert.Contains("policy: local files", StatusText(third));
            Assert.Equal(0, third.Stop());
        }
        Assert.Empty(Listed(key));
    }

    [Fact]
    public async Task LastGoodPolicyTheKernelNowRefuses_AtRestartLocalFilesRunAndStatusSaysWhy()
    {
        var collector = await TestCollector.StartAsync();
        var desk = new PolicyDesk(collector, "web");
        string key = TestRules.UniqueKey("policy-gone");
        string watched = Directory.CreateTempSubdirectory("sluice-policy-watch-").FullName;
        string dir;
        try
        {
            using (var agent = StartAgent(collector, Rule(key + "-local")))
            {
                agent.WaitReady();
                Assign(desk, agent, Rule(key + "-a") + $"-w {watched}/x -p wa -k {key}-w\n", "");
                Assert.Equal(2, Listed(key).Count);
                dir = agent.Directory;
                Assert.Equal(0, agent.Stop());
            }
        }
        finally
        {
            Directory.Delete(watched, recursive: true);
            await collector.DisposeAsync();
        }

        using var again = AgentRunner.StartIn(dir);
        var m = again.WaitReady();

        Assert.Equal((PolicySources.Local, ""), (m.Policy.Source, m.Policy.Hash));
        Assert.Contains("refused by the kernel at start (policy:2: the kernel refused the rule: ", m.Policy.Note);
        Assert.Equal([Rule(key + "-local").Trim()], Listed(key));
        Assert.Equal(0, again.Stop());
        Assert.Empty(Listed(key));
    }
}
