using System.Diagnostics;
using System.Text.Json;
using Sluice.Agent.Policy;
using Sluice.Agent.Tests.Kernel;
using Sluice.Protocol.Policies;
using Sluice.Testing;

namespace Sluice.Agent.Tests.EndToEnd;

/// <summary>
/// Enrollment and central policy as an operator drives them, on the real kernel: <c>sluice-collector agents add</c>
/// and <c>policy set</c> against a running <c>sluice-collector serve</c> (its own process, SQLite store), the published
/// agent with the token printed once, and the kernel's rules as <c>auditctl -l</c> lists them.
/// </summary>
[Collection(KernelAuditFixture.Collection)]
public sealed class CentralPolicyEndToEndTests : EndToEndTest
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private const int HeartbeatMs = 1000;

    private static string Dll => Path.Combine(AppContext.BaseDirectory, "sluice-collector.dll");

    private string Tokens => Path.Combine(Collector.Directory, "tokens");

    private static string Rule(string key, string syscall = "getsid") => $"-a always,exit -F arch=b64 -S {syscall} -F key={key}\n";

    private static List<string> Listed(string prefix) =>
        [.. Auditd.Rules().Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.Contains("key=" + prefix, StringComparison.Ordinal))];

    private (int Code, string Output) Cli(string args) => AgentProcess.RunTool("dotnet", $"{Dll} {args}");

    /// <summary>Writes <paramref name="rules"/> to a file and runs <c>policy set</c> for <paramref name="group"/>.</summary>
    private (int Code, string Output) SetPolicy(string group, string rules)
    {
        string file = Path.Combine(Collector.Directory, $"policy-{Guid.NewGuid():N}.rules");
        File.WriteAllText(file, rules);
        return Cli($"policy set --group {group} --rules {file} --store {Collector.Store}");
    }

    /// <summary>This agent's entry of <c>agents list --json</c>.</summary>
    private JsonElement Listing(string agentId)
    {
        var (code, output) = Cli($"agents list --json --store {Collector.Store} --tokens {Tokens}");
        Assert.True(code == 0, output);
        using var doc = JsonDocument.Parse(output[output.IndexOf('{')..]);
        return doc.RootElement.GetProperty("agents").EnumerateArray()
            .Single(a => a.GetProperty("agent_id").GetString() == agentId).Clone();
    }

    private static void Until(Func<bool> done, string what, Func<string> context)
    {
        var sw = Stopwatch.StartNew();
        while (!done())
        {
            if (sw.Elapsed > Timeout)
            {
                throw new TimeoutException($"{what} did not happen within {Timeout}:\n{context()}");
            }
            Thread.Sleep(200);
        }
    }

    [Fact]
    public void EnrolledOnARunningCollector_PolicyInForceInTheKernel_BrokenPolicyRefusedAtTheCollector_LastGoodAfterRestartWithCollectorDown()
    {
        string agentId = "e2e-policy-" + Guid.NewGuid().ToString("N")[..8];
        string key = TestRules.UniqueKey("e2e-policy");
        string group = "web";
        Collector.Start();

        // Enrolled while the collector runs: the token is printed once, only its digest is kept, and the running
        // collector takes it without a restart.
        var (addCode, addOutput) = Cli($"agents add {agentId} --group {group} --tokens {Tokens}");
        Assert.True(addCode == 0, addOutput);
        string token = addOutput.Split('\n')[0].Trim();
        Assert.True(token.Length >= 32, addOutput);
        string tokenLine = File.ReadAllLines(Tokens).Single(l => l.StartsWith(agentId + " ", StringComparison.Ordinal));
        Assert.DoesNotContain(token, tokenLine);
        Assert.Contains($"group={group}", tokenLine);

        var (setCode, setOutput) = SetPolicy(group, "# central policy\n" + Rule(key + "-a") + Rule(key + "-b", "getppid"));
        Assert.True(setCode == 0, setOutput);
        string goodHash = PolicyDigest.Compute("# central policy\n" + Rule(key + "-a") + Rule(key + "-b", "getppid"), "");

        string agentDir;
        using (var agent = AgentRunner.Start(Rule(key + "-local"), dir => $$"""
            "AgentId": "{{agentId}}",
            "Sink": { "Type": "Collector" },
            "Spool": { "Directory": "{{dir}}/spool" },
            "Shipping": { "CollectorUrl": "http://127.0.0.1:{{Collector.Port}}", "Token": "{{token}}", "AllowInsecureTransport": true, "QuarantineDirectory": "{{dir}}/quarantine" },
            "Monitor": { "HeartbeatIntervalMs": {{HeartbeatMs}} }
            """))
        {
            agentDir = agent.Directory;
            agent.WaitReady();

            // The group's policy replaces the local rules in the kernel.
            Until(() => Listed(key).Count == 2 && !Listed(key + "-local").Any(), "the policy in the kernel", () => agent.Output + Collector.Output);
            Assert.Equal([Rule(key + "-a").Trim(), Rule(key + "-b", "getppid").Trim()], Listed(key));
            Until(() => Listing(agentId).GetProperty("policy").GetProperty("in_force").GetString() == goodHash, "the collector seeing the policy in force", () => agent.Output);
            var listed = Listing(agentId);
            Assert.Equal(group, listed.GetProperty("group").GetString());
            Assert.Equal("", listed.GetProperty("policy").GetProperty("refusal").GetString());

            // A policy that does not compile never leaves the collector: policy set names the line and why.
            var (badCode, badOutput) = SetPolicy(group, Rule(key + "-c") + "-a always,exit -F arch=b64 -S no_such_syscall -F key=x\n");
            Assert.NotEqual(0, badCode);
            Assert.Contains(":2: 'no_such_syscall'", badOutput);

            // One the kernel refuses (the watched path's parent does not exist): the agent keeps the rules in force,
            // and the collector shows the refusal with its line and reason.
            string refused = Rule(key + "-a") + Rule(key + "-new") + $"-w /nonexistent-sluice-{Guid.NewGuid():N}/x -p wa -k {key}-watch\n";
            string refusedHash = PolicyDigest.Compute(refused, "");
            string rulesBefore = Auditd.Rules();
            (setCode, setOutput) = SetPolicy(group, refused);
            Assert.True(setCode == 0, setOutput);
            Until(() => Listing(agentId).GetProperty("policy").GetProperty("refused_hash").GetString() == refusedHash, "the refusal at the collector", () => agent.Output + Collector.Output);
            listed = Listing(agentId);
            Assert.Equal(goodHash, listed.GetProperty("policy").GetProperty("in_force").GetString());
            Assert.StartsWith("policy:3: the kernel refused the rule: ", listed.GetProperty("policy").GetProperty("refusal").GetString());
            Assert.Equal(rulesBefore, Auditd.Rules());

            var (showCode, showOutput) = Cli($"policy show --group {group} --store {Collector.Store} --tokens {Tokens}");
            Assert.True(showCode == 0, showOutput);
            Assert.Contains(agentId, showOutput);
            Assert.Contains("policy:3: the kernel refused the rule: ", showOutput);

            Assert.Equal(0, agent.Stop());
        }
        Assert.Empty(Listed(key));

        // The collector is down when the agent starts again: the last good policy comes from disk.
        Collector.Stop();
        using (var again = AgentRunner.StartIn(agentDir))
        {
            var m = again.WaitReady();
            Assert.Equal((PolicySources.LastGood, goodHash), (m.Policy.Source, m.Policy.Hash));
            Assert.Equal([Rule(key + "-a").Trim(), Rule(key + "-b", "getppid").Trim()], Listed(key));
            Assert.Equal(0, again.Stop());
        }
        Assert.Empty(Listed(key));
    }
}
