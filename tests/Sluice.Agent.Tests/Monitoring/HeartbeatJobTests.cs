using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Quartz;
using Sluice.Agent.Configuration;
using Sluice.Agent.Hosting;
using Sluice.Agent.Monitoring;
using Sluice.Audit.Rules;

namespace Sluice.Agent.Tests.Monitoring;

public sealed class HeartbeatJobTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-heartbeat-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<bool> HeartbeatScheduledAsync(string sink)
    {
        string config = Path.Combine(_dir, "agent.json");
        await File.WriteAllTextAsync(config, AgentRunner.Config(_dir, sink));
        using var host = AgentHost.Build(AgentConfiguration.Build(config));
        var factory = host.Services.GetRequiredService<ISchedulerFactory>();
        // Constructing the hosted services resolves the scheduler's optional heartbeat sender.
        var scheduler = host.Services.GetServices<IHostedService>().OfType<JobScheduler>().Single();
        await scheduler.StartAsync(CancellationToken.None);
        var quartz = await factory.GetScheduler();
        bool scheduled = await quartz.GetTrigger(new TriggerKey(HeartbeatJob.Key.Name + "-trigger", HeartbeatJob.Key.Group)) is not null;
        await quartz.Shutdown();
        return scheduled;
    }

    /// <summary>The agent's config sections that address a collector (which listens nowhere), after <paramref name="sink"/>.</summary>
    private string ToCollector(string sink) => $$"""
        "Sink": {{sink}},
        "Spool": { "Directory": "{{_dir}}/spool" },
        "Shipping": { "CollectorUrl": "http://127.0.0.1:9", "Token": "heartbeat-test-token", "AllowInsecureTransport": true, "QuarantineDirectory": "{{_dir}}/q" }
        """;

    [Fact]
    public async Task Host_CollectorSink_SchedulesHeartbeats()
    {
        Assert.True(await HeartbeatScheduledAsync(ToCollector("""{ "Type": "Collector" }""")));
    }

    [Fact]
    public async Task Host_CollectorUrlWithoutSinkType_ShipsAndSchedulesHeartbeats()
    {
        // An agent given a collector ships to it: the delivery services are there without Sink:Type.
        Assert.True(await HeartbeatScheduledAsync(ToCollector($$"""{ "Path": "{{_dir}}/events.jsonl" }""")));
    }

    [Fact]
    public async Task Host_JsonLinesSink_NoHeartbeats()
    {
        Assert.False(await HeartbeatScheduledAsync(""));
    }

    [Fact]
    public void Values_RulesAsAuditctlListsThemAndLossTotals()
    {
        var rules = RuleParser.Parse("-w /etc/passwd -p wa -k identity\n-a always,exit -F arch=b64 -S execve -k exec\n").InKernelOrder().Select(r => r.Listed).ToList();
        var snapshot = new MetricsSnapshot { Mode = "unicast", RulesHash = "abc", RulesLoaded = 2, KernelLost = 4, SocketOverruns = 5, SerialGaps = 6, ReassemblyEvicted = 7, IntervalMs = 100 };

        var values = HeartbeatJob.Values(snapshot, rules);

        Assert.Equal(["-w /etc/passwd -p wa -k identity", "-a always,exit -F arch=b64 -S execve -F key=exec"], values.Rules);
        Assert.Equal(("abc", 2u, 100u), (values.RulesHash, values.RulesCount, values.DrainIntervalMs));
        Assert.Equal((4ul, 5ul, 6ul, 7ul), (values.LossTotals!.KernelLost, values.LossTotals.SocketOverruns, values.LossTotals.SerialGaps, values.LossTotals.ReassemblyEvicted));
    }
}
