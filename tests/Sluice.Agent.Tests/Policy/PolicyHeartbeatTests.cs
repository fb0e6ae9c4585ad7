using Sluice.Agent.Shipping;
using Sluice.Agent.Tests.Shipping;
using Sluice.Protocol.Policies;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Tests.Policy;

/// <summary>The policy fields of a heartbeat go over gRPC to a real collector, and its reply's policy comes back whole.</summary>
public sealed class PolicyHeartbeatTests
{
    [Fact]
    public async Task SendAsync_PolicyFieldsReachTheCollector_ReplyPolicyComesBackWhole()
    {
        await using var collector = await TestCollector.StartAsync();
        var policy = new Protocol.V1.Policy { Rules = "-w /etc/passwd -p wa -k identity\n", Filters = "[]", Group = "web", SetUnixMs = 42 };
        policy.Hash = PolicyDigest.Compute(policy.Rules, policy.Filters);
        collector.HeartbeatReplyFor = _ => new HeartbeatReply { PolicyHash = policy.Hash, Group = "web", Policy = policy };
        await using var harness = ShippingHarness.Create(collector);
        var sender = new HeartbeatSender(new AgentIdentity("a", "h", "b"), harness.Spool, harness.Shipper, TimeSpan.FromSeconds(10));

        var reply = await sender.SendAsync(new HeartbeatValues
        {
            Version = "0.1.0",
            StartedAt = DateTimeOffset.UnixEpoch,
            Mode = "unicast",
            PolicyHash = "in-force",
            PolicyRefusedHash = "refused",
            PolicyRefusal = "policy:3: the kernel refused the rule: No such file or directory",
        }, CancellationToken.None);

        Assert.True(collector.Heartbeats.TryDequeue(out var hb));
        Assert.Equal(("in-force", "refused", "policy:3: the kernel refused the rule: No such file or directory"),
            (hb.PolicyHash, hb.PolicyRefusedHash, hb.PolicyRefusal));
        Assert.NotNull(reply);
        Assert.Equal(policy, reply.Policy);
        Assert.True(PolicyDigest.Matches(reply.Policy));
        Assert.Equal(("web", policy.Hash), (reply.Group, reply.PolicyHash));
    }
}
