using Sluice.Agent.Tests.Kernel;
using Sluice.Audit.Netlink;
using Sluice.Testing;

namespace Sluice.Agent.Tests.EndToEnd;

/// <summary>auditd running → the agent takes over and ships to a real collector → at stop, auditd and the kernel settings are back.</summary>
[Collection(KernelAuditFixture.Collection)]
public sealed class TakeoverEndToEndTests : IDisposable
{
    private readonly KernelStateGuard _guard = new();
    private readonly bool _auditdWasRunning = Auditd.IsRunning();
    private readonly CollectorProcess _collector = new();

    public void Dispose()
    {
        _collector.Dispose();
        // auditd as this test found it, whatever happened in it.
        if (_auditdWasRunning && !Auditd.IsRunning())
        {
            Auditd.Start();
        }
        else if (!_auditdWasRunning && Auditd.IsRunning())
        {
            Auditd.Stop();
        }
        _guard.Dispose();
    }

    [Fact]
    public void AuditdRunning_AgentTakesOverShipsEveryEventThenGivesAuditdBack()
    {
        Auditd.Start();
        var settingsBefore = Auditd.Settings();
        string rulesBefore = Auditd.Rules();
        _collector.Start();
        string key = TestRules.UniqueKey("takeover");
        using var agent = AgentRunner.Start(MarkedLoad.Rule(key), dir => _collector.AgentConfig(dir));
        agent.WaitReady();

        Assert.False(Auditd.IsRunning(), "auditd still runs while the agent holds audit:\n" + agent.Output);
        using (var control = AuditControlClient.Open())
        {
            var status = control.GetStatus();
            Assert.Equal((uint)agent.Pid, status.Pid);
            Assert.Equal(1u, status.Enabled);
            Assert.Equal(0u, status.BacklogWaitTime); // the agent's default: never stall the host
        }

        const int n = 3000;
        using var load = MarkedLoad.Start(n, 3000);
        load.WaitDone(TimeSpan.FromSeconds(60));
        var events = _collector.WaitForExport(e => e.Count(x => load.Marker(x) is not null) >= n, TimeSpan.FromSeconds(60));
        Assert.Equal(0, agent.Stop());

        events = _collector.Export();
        var markers = events.Select(load.Marker).OfType<long>().ToList();
        Assert.Equal(n, markers.Count);
        Assert.Equal(Enumerable.Range(0, n).Select(i => (long)i), markers.Order());
        Assert.All(events.Where(e => load.Marker(e) is not null), e => Assert.Equal(key, e.GetProperty("key").GetString()));

        Assert.True(Auditd.IsRunning(), "auditd was not started again:\n" + agent.Output);
        Assert.True(Auditd.WaitRegistered(TimeSpan.FromSeconds(20)), "auditd runs but is not the audit consumer");
        Assert.Equal(settingsBefore, Auditd.Settings());
        Assert.Equal(rulesBefore, Auditd.Rules());
        Assert.DoesNotContain(key, Auditd.Rules());
        var stats = _collector.Stats();
        Assert.Equal(0, stats.GetProperty("loss").GetProperty("total_lost").GetInt64());
    }
}
