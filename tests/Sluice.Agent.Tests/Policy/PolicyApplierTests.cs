using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Sluice.Agent.Configuration;
using Sluice.Agent.Filtering;
using Sluice.Agent.Kernel;
using Sluice.Agent.Monitoring;
using Sluice.Agent.Policy;
using Sluice.Agent.Tests.Spool;
using Sluice.Audit.Netlink;
using Sluice.Audit.Rules;
using Sluice.Protocol.Policies;
using Sluice.Protocol.V1;
using ProtoPolicy = Sluice.Protocol.V1.Policy;

namespace Sluice.Agent.Tests.Policy;

/// <summary>
/// The agent's handling of heartbeat replies, with the kernel load replaced by a loader that
/// accepts or refuses (the real kernel is in <see cref="CentralPolicyKernelTests"/>): what is
/// refused changes nothing in force, is reported, and is not tried again.
/// </summary>
public sealed class PolicyApplierTests : IDisposable
{
    private const string LocalFilterName = "local-drop";
    private const string Rules = "-a always,exit -F arch=b64 -S execve -F key=exec\n-a always,exit -F arch=b64 -S openat -F key=open\n";
    private const string Filters = """[ { "Name": "central-drop", "Comm": [ "cron" ] } ]""";

    private readonly TempDirectory _dir = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 5, 9, 0, 0, TimeSpan.Zero));
    private readonly KernelSession _session = new();

    public void Dispose()
    {
        _session.Dispose();
        _dir.Dispose();
    }

    /// <summary>Takes the place of the kernel load: records what it was given, refuses when told to.</summary>
    private sealed class FakeLoader : IRulesLoader
    {
        public List<RuleSet> Replaced { get; } = [];

        public string? Refuse { get; set; }

        public string Hash { get; private set; } = "local";

        public void Validate()
        {
        }

        public IReadOnlyList<KernelRule> Load(AuditControlClient control) => [];

        public IReadOnlyList<KernelRule> Replace(AuditControlClient control, RuleSet set)
        {
            Replaced.Add(set);
            if (Refuse is { } reason)
            {
                throw new PolicyRefusedException(reason);
            }
            Hash = "central";
            return [.. set.Rules.Select(r => r.Listed)];
        }
    }

    private (PolicyApplier Applier, PolicyState State, ActiveFilter Filter, FakeLoader Loader, AgentMetrics Metrics) Make(AgentMode mode = AgentMode.Unicast, bool enabled = true)
    {
        var options = new AgentOptions { StateDirectory = _dir.Path, Mode = mode, Policy = new PolicyOptions { Enabled = enabled } };
        var metrics = new AgentMetrics();
        var state = new PolicyState(options, NullLogger<PolicyState>.Instance, metrics);
        var filter = new ActiveFilter([new FilterRuleOptions { Name = LocalFilterName }], _time);
        var loader = new FakeLoader();
        var ownership = new KernelOwnership(options, new AuditdService(new ProcessCommandRunner(), NullLogger<AuditdService>.Instance, _time),
            NullLogger<KernelOwnership>.Instance, _time);
        var applier = new PolicyApplier(options, _session, ownership, loader, filter, state, metrics, _time, NullLogger<PolicyApplier>.Instance);
        return (applier, state, filter, loader, metrics);
    }

    private static ProtoPolicy PolicyOf(string rules, string filters = Filters, string group = "web") =>
        new() { Hash = PolicyDigest.Compute(rules, filters), Group = group, Rules = rules, Filters = filters, SetUnixMs = 1 };

    private static HeartbeatReply ReplyWith(ProtoPolicy p) => new() { PolicyHash = p.Hash, Policy = p, Group = p.Group };

    [Fact]
    public void Reply_GoodPolicy_RulesAndFiltersInForceKeptOnDiskAndReported()
    {
        var (applier, state, filter, loader, metrics) = Make();
        var policy = PolicyOf(Rules);

        Assert.True(applier.OnReply(ReplyWith(policy)));

        Assert.Equal(2, Assert.Single(loader.Replaced).Rules.Count);
        Assert.Equal("central-drop", Assert.Single(filter.Counts).Name);
        Assert.Equal(2, _session.LoadedRules.Count);
        Assert.Equal("central", metrics.RulesHash);
        Assert.Equal(new PolicyStatus { Source = PolicySources.Central, Hash = policy.Hash, Group = "web", AppliedUtc = _time.GetUtcNow() }, state.Status);
        Assert.Equal(policy.Hash, metrics.Snapshot().Policy.Hash);
        var kept = LastGoodPolicy.Load(_dir.Path)!;
        Assert.Equal((policy.Hash, "web", Rules, Filters), (kept.Hash, kept.Group, kept.Rules, kept.Filters));
        var values = HeartbeatJob.Values(metrics.Snapshot(), _session.LoadedRules, state.Status);
        Assert.Equal((policy.Hash, "", ""), (values.PolicyHash, values.PolicyRefusedHash, values.PolicyRefusal));
    }

    [Fact]
    public void Reply_HashDoesNotMatchContent_RefusedBeforeAnythingIsTouched()
    {
        var (applier, state, filter, loader, _) = Make();
        var policy = PolicyOf(Rules);
        policy.Rules += "-a always,exit -F arch=b64 -S unlink -F key=smuggled\n";

        Assert.False(applier.OnReply(ReplyWith(policy)));

        Assert.Empty(loader.Replaced);
        Assert.Equal(LocalFilterName, Assert.Single(filter.Counts).Name);
        Assert.Equal(policy.Hash, state.Status.RefusedHash);
        Assert.Contains("is not the hash of its rules and filters", state.Status.Refusal);
        Assert.Equal("", state.Status.Hash);
        Assert.Null(LastGoodPolicy.Load(_dir.Path));
    }

    [Fact]
    public void Reply_RuleLineDoesNotCompile_NothingLoadedFiltersKeptRefusalNamesTheLine()
    {
        var (applier, state, filter, loader, _) = Make();
        var policy = PolicyOf(Rules + "-a always,exit -F arch=b64 -S no_such_call -F key=x\n");

        Assert.False(applier.OnReply(ReplyWith(policy)));

        Assert.Empty(loader.Replaced);
        Assert.Equal(LocalFilterName, Assert.Single(filter.Counts).Name);
        Assert.Contains("policy:3: ", state.Status.Refusal);
    }

    [Fact]
    public void Reply_FiltersDoNotValidate_RulesNotLoadedEither()
    {
        var (applier, state, filter, loader, _) = Make();

        Assert.False(applier.OnReply(ReplyWith(PolicyOf(Rules, """[ { "Syscalls": [ "no_such_call" ] } ]"""))));

        Assert.Empty(loader.Replaced);
        Assert.Equal(LocalFilterName, Assert.Single(filter.Counts).Name);
        Assert.Contains("unknown syscall 'no_such_call'", state.Status.Refusal);
    }

    [Fact]
    public void Reply_KernelRefusesARule_FiltersKeptPreviousPolicyStaysInForce()
    {
        var (applier, state, filter, loader, metrics) = Make();
        var good = PolicyOf(Rules);
        Assert.True(applier.OnReply(ReplyWith(good)));
        loader.Refuse = "policy:2: the kernel refused the rule: No such file or directory";
        var bad = PolicyOf(Rules + "-w /nonexistent/x -p wa -k gone\n", filters: "");

        Assert.False(applier.OnReply(ReplyWith(bad)));

        Assert.Equal(2, loader.Replaced.Count);
        Assert.Equal("central-drop", Assert.Single(filter.Counts).Name);
        Assert.Equal(good.Hash, state.Status.Hash);
        Assert.Equal(good.Hash, LastGoodPolicy.Load(_dir.Path)!.Hash);
        var values = HeartbeatJob.Values(metrics.Snapshot(), _session.LoadedRules, state.Status);
        Assert.Equal((good.Hash, bad.Hash, loader.Refuse), (values.PolicyHash, values.PolicyRefusedHash, values.PolicyRefusal));
    }

    [Fact]
    public void Reply_RefusedPolicyAgain_NotRetried_ADifferentOneIs()
    {
        var (applier, state, _, loader, _) = Make();
        loader.Refuse = "policy:1: the kernel refused the rule: Invalid argument";
        var bad = PolicyOf(Rules);
        Assert.False(applier.OnReply(ReplyWith(bad)));

        Assert.False(applier.OnReply(ReplyWith(bad)));
        Assert.Single(loader.Replaced);

        loader.Refuse = null;
        var next = PolicyOf(Rules + "-a always,exit -F arch=b64 -S unlink -F key=rm\n");
        Assert.True(applier.OnReply(ReplyWith(next)));
        Assert.Equal(2, loader.Replaced.Count);
        Assert.Equal((next.Hash, "", ""), (state.Status.Hash, state.Status.RefusedHash, state.Status.Refusal));
    }

    [Fact]
    public void Reply_GroupHasNoPolicy_KeepsThePolicyInForceAndSaysSo()
    {
        var (applier, state, filter, _, _) = Make();
        var policy = PolicyOf(Rules);
        applier.OnReply(ReplyWith(policy));

        Assert.False(applier.OnReply(new HeartbeatReply { PolicyHash = "", Group = "web" }));

        Assert.Equal(policy.Hash, state.Status.Hash);
        Assert.Equal("central-drop", Assert.Single(filter.Counts).Name);
        Assert.Contains("the collector holds no policy for group web", state.Status.Note);

        // The group gets the same policy again: confirmed, the note goes.
        applier.OnReply(new HeartbeatReply { PolicyHash = policy.Hash, Group = "web" });
        Assert.Equal("", state.Status.Note);
    }

    [Fact]
    public void Reply_SameHashFromLastGoodOnDisk_BecomesCentralWithoutReloading()
    {
        var policy = PolicyOf(Rules);
        new LastGoodPolicy { Hash = policy.Hash, Group = "web", Rules = Rules, Filters = Filters }.Save(_dir.Path, NullLogger.Instance);
        var (applier, state, _, loader, _) = Make();
        Assert.NotNull(state.Startup);
        Assert.Equal(PolicySources.LastGood, state.Status.Source);

        Assert.False(applier.OnReply(new HeartbeatReply { PolicyHash = policy.Hash, Group = "web" }));

        Assert.Empty(loader.Replaced);
        Assert.Equal(PolicySources.Central, state.Status.Source);
    }

    [Fact]
    public void Reply_MulticastMode_RefusedItLoadsNoRules()
    {
        var (applier, state, _, loader, _) = Make(AgentMode.Multicast);

        Assert.False(applier.OnReply(ReplyWith(PolicyOf(Rules))));

        Assert.Empty(loader.Replaced);
        Assert.Contains("Multicast", state.Status.Refusal);
    }

    [Fact]
    public void Reply_PolicyDisabled_IgnoredAndSaidSo()
    {
        var (applier, state, _, loader, _) = Make(enabled: false);

        Assert.False(applier.OnReply(ReplyWith(PolicyOf(Rules))));

        Assert.Empty(loader.Replaced);
        Assert.Equal("", state.Status.RefusedHash);
        Assert.Contains("Policy:Enabled is false", state.Status.Note);
    }

    [Fact]
    public void Status_Text_NamesHashSourceGroupAndRefusal()
    {
        var (applier, state, _, loader, _) = Make();
        var good = PolicyOf(Rules);
        applier.OnReply(ReplyWith(good));
        loader.Refuse = "policy:3: the kernel refused the rule: No such file or directory";
        var bad = PolicyOf(Rules + "-w /nonexistent/x -p wa -k gone\n");
        applier.OnReply(ReplyWith(bad));

        var lines = Sluice.Agent.Cli.StatusCommand.PolicyText(state.Status).ToList();

        Assert.Equal($"policy: {good.Hash[..12]} (central, group web)", lines[0]);
        Assert.Equal($"policy refused: {bad.Hash[..12]} at {_time.GetUtcNow():u}: {loader.Refuse}", lines[1]);
        Assert.Equal(["policy: local files"], Sluice.Agent.Cli.StatusCommand.PolicyText(new PolicyStatus()));
    }
}
