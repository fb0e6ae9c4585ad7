using Microsoft.Extensions.Logging.Abstractions;
using Sluice.Agent.Configuration;
using Sluice.Agent.Kernel;
using Sluice.Agent.Policy;
using Sluice.Agent.Tests.Spool;
using Sluice.Audit.Netlink;
using Sluice.Audit.Rules;
using Sluice.Testing;

namespace Sluice.Agent.Tests.Policy;

/// <summary>
/// <see cref="AgentRulesLoader.Replace"/> on the real kernel, in process: a central policy's rules
/// replace the rules in force by a diff; any refusal puts the kernel's list back exactly, order included.
/// </summary>
[Collection(KernelAuditFixture.Collection)]
public sealed class RulesReplaceKernelTests : IDisposable
{
    private readonly KernelStateGuard _guard = new();
    private readonly TempDirectory _dir = new("sluice-policy-test");
    private readonly AuditControlClient _control = AuditControlClient.Open();
    private readonly AgentRulesLoader _loader;

    public RulesReplaceKernelTests()
    {
        File.WriteAllText(Path.Combine(_dir.Path, "audit.rules"), "");
        _loader = new AgentRulesLoader(
            new AgentOptions { StateDirectory = _dir.Path, Rules = new RulesOptions { Files = [Path.Combine(_dir.Path, "audit.rules")] } },
            NullLogger<AgentRulesLoader>.Instance);
    }

    public void Dispose()
    {
        _control.Dispose();
        _guard.Dispose();
        _dir.Dispose();
    }

    private static string Rule(string key, string syscall = "getsid") => $"-a always,exit -F arch=b64 -S {syscall} -F key={key}\n";

    private static RuleSet Set(string text) => PolicyCompiler.Compile("h", "", text, "").Rules;

    private List<string> Ours(string prefix) =>
        [.. _control.ListRules().Where(r => r.Keys.Any(k => k.StartsWith(prefix, StringComparison.Ordinal))).Select(r => RuleFormatter.Format(r))];

    [Fact]
    public void Replace_DiffLoads_KeepsCommonRulesAddsNewDeletesGone()
    {
        string prefix = TestRules.UniqueKey("replace");
        var first = _loader.Replace(_control, Set(Rule(prefix + "-a") + Rule(prefix + "-b")));
        Assert.Equal(2, first.Count);

        var second = _loader.Replace(_control, Set(Rule(prefix + "-b") + Rule(prefix + "-c")));

        Assert.Equal([Rule(prefix + "-b").Trim(), Rule(prefix + "-c").Trim()], Ours(prefix));
        Assert.Equal(2, second.Count);
    }

    [Theory]
    [InlineData("")]
    [InlineData("-c\n")]
    [InlineData("-i\n")]
    public void Replace_KernelRefusesALine_RulesBackExactlyInOrder_RefusalNamesTheLine(string keepGoing)
    {
        string prefix = TestRules.UniqueKey("rollback");
        _loader.Replace(_control, Set(Rule(prefix + "-a") + Rule(prefix + "-b") + Rule(prefix + "-c")));
        var before = _control.ListRules();
        string owned = File.ReadAllText(Path.Combine(_dir.Path, AgentRulesLoader.OwnedRulesFile));
        // -c / -i let a load go on after a refusal; all or nothing all the same. Line 4 (or 5) is refused:
        // the kernel cannot watch a path whose directory does not exist.
        string text = keepGoing + Rule(prefix + "-c") + Rule(prefix + "-new") + Rule(prefix + "-a", "getppid")
            + $"-w /nonexistent-sluice-{Guid.NewGuid():N}/x -p wa -k {prefix}-watch\n" + Rule(prefix + "-after");
        int line = keepGoing.Length > 0 ? 5 : 4;

        var e = Assert.Throws<PolicyRefusedException>(() => _loader.Replace(_control, Set(text)));

        Assert.StartsWith($"policy:{line}: the kernel refused the rule: ", e.Message);
        Assert.Equal(before, _control.ListRules());
        Assert.Equal(owned, File.ReadAllText(Path.Combine(_dir.Path, AgentRulesLoader.OwnedRulesFile)));
    }

    [Fact]
    public void RestoreExactly_ReorderedAndChangedList_BackInTheSameOrder()
    {
        string prefix = TestRules.UniqueKey("order");
        foreach (var k in new[] { "-1", "-2", "-3" })
        {
            _control.AddRule(Set(Rule(prefix + k)).Rules[0].Rule);
        }
        var wanted = _control.ListRules();
        _control.DeleteRule(Set(Rule(prefix + "-1")).Rules[0].Listed);
        _control.AddRule(Set(Rule(prefix + "-1")).Rules[0].Rule);
        _control.AddRule(Set(Rule(prefix + "-4")).Rules[0].Rule);
        Assert.NotEqual(wanted, _control.ListRules());

        AgentRulesLoader.RestoreExactly(_control, wanted);

        Assert.Equal(wanted, _control.ListRules());
    }
}
