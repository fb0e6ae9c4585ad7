using Sluice.Agent.Shipping;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Tests.Shipping;

public sealed class HeartbeatSenderTests
{
    [Fact]
    public async Task SendAsync_RunningCollector_DeliversValuesIdentityAndSpoolDepth()
    {
        await using var collector = await TestCollector.StartAsync();
        await using var harness = ShippingHarness.Create(collector);
        harness.Append(3);
        harness.Append(2);
        var identity = new AgentIdentity("agent-hb", "host-hb", "boot-hb");
        var sender = new HeartbeatSender(identity, harness.Spool, harness.Shipper, TimeSpan.FromSeconds(10));
        var values = new HeartbeatValues
        {
            Version = "0.1.0",
            StartedAt = DateTimeOffset.FromUnixTimeMilliseconds(1_764_000_000_000),
            Mode = "unicast",
            Kernel = new KernelSettings { Enabled = 1, BacklogLimit = 65752, Lost = 3 },
            RulesHash = "abc",
            RulesCount = 12,
            LossTotals = new LossCounters { KernelLost = 3 },
            SocketBufferBytes = 64 << 20,
            DrainIntervalMs = 100,
            Rules = ["-w /etc/passwd -p wa -k identity", "-a always,exit -F arch=b64 -S execve -F key=exec"],
        };
        var reply = await sender.SendAsync(values, CancellationToken.None);
        Assert.NotNull(reply);
        Assert.True(collector.Heartbeats.TryDequeue(out var hb));
        Assert.Equal(("agent-hb", "host-hb", "boot-hb", "0.1.0", "unicast"), (hb.AgentId, hb.Hostname, hb.BootId, hb.Version, hb.Mode));
        Assert.Equal(65752u, hb.Kernel.BacklogLimit);
        Assert.Equal(12u, hb.RulesCount);
        Assert.Equal(["-w /etc/passwd -p wa -k identity", "-a always,exit -F arch=b64 -S execve -F key=exec"], hb.Rules);
        Assert.Equal(3ul, hb.LossTotals.KernelLost);
        Assert.Equal(2ul, hb.SpoolDepthBatches);
        Assert.Equal((ulong)harness.Spool.Counters.DepthBytes, hb.SpoolDepthBytes);
        Assert.Equal(1_764_000_000_000, hb.StartedUnixMs);
        Assert.Matches("^[0-9a-f]{32}$", hb.Epoch);
        Assert.Equal(harness.Spool.Epoch, hb.Epoch);
        Assert.Equal(1, sender.Sent);
    }

    [Fact]
    public async Task SendAsync_CollectorDown_ReturnsNullAndCounts()
    {
        await using var collector = TestCollector.NotListening();
        await using var harness = ShippingHarness.Create(collector);
        var sender = new HeartbeatSender(new AgentIdentity("a", "h", "b"), harness.Spool, harness.Shipper, TimeSpan.FromSeconds(5));
        var reply = await sender.SendAsync(new HeartbeatValues { Version = "0.1.0", StartedAt = DateTimeOffset.UnixEpoch, Mode = "unicast" }, CancellationToken.None);
        Assert.Null(reply);
        Assert.Equal(1, sender.Failed);
    }
}
