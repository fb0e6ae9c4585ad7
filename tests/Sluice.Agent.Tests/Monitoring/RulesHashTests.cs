using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Sluice.Agent.Configuration;
using Sluice.Agent.Draining;
using Sluice.Agent.Hosting;
using Sluice.Agent.Kernel;
using Sluice.Agent.Monitoring;
using Sluice.Agent.Shipping;
using Sluice.Agent.Tests.Shipping;
using Sluice.Agent.Tests.Spool;
using Sluice.Audit.Rules;
using Sluice.Audit.Tables;

namespace Sluice.Agent.Tests.Monitoring;

/// <summary>Every batch names the rules in force (EventBatch.rules_hash), the same hash the heartbeat sends.</summary>
public sealed class RulesHashTests
{
    [Fact]
    public async Task BatchFromTheRunningPipeline_CarriesTheHeartbeatsRulesHash()
    {
        await using var collector = await TestCollector.StartAsync();
        using var dir = new TempDirectory("sluice-rules-hash");
        string config = Path.Combine(dir.Path, "agent.json");
        await File.WriteAllTextAsync(config, AgentRunner.Config(dir.Path, $$"""
            "Sink": { "Type": "Collector" },
            "Spool": { "Directory": "{{dir.Path}}/spool" },
            "Batching": { "MaxDelay": "00:00:00.050" },
            "Shipping": { "CollectorUrl": "{{collector.Url}}", "Token": "{{collector.Token}}", "AllowInsecureTransport": true, "QuarantineDirectory": "{{dir.Path}}/q" }
            """));
        using var host = AgentHost.Build(AgentConfiguration.Build(config));

        // What AgentService does once the rules are loaded (the kernel is not needed here).
        var rules = RuleParser.Parse("-a always,exit -F arch=b64 -S execve -k exec\n").InKernelOrder().Select(r => r.Listed).ToList();
        host.Services.GetRequiredService<KernelSession>().LoadedRules = rules;
        host.Services.GetRequiredService<AgentMetrics>().RulesHash = AgentRulesLoader.HashOf(rules);

        var shipper = host.Services.GetServices<IHostedService>().OfType<ShipperService>().Single();
        await shipper.StartAsync(CancellationToken.None);
        using (var pipeline = host.Services.GetRequiredService<Func<IRecordPipeline>>()())
        {
            pipeline.OnRecord(AuditMessageType.Syscall, Encoding.UTF8.GetBytes("audit(1795567850.751:1173900): arch=c000003e syscall=59 success=yes exit=0 a0=0 a1=0 a2=0 a3=0 items=0 ppid=1 pid=2 auid=1001 uid=1001 gid=1001 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm=\"true\" exe=\"/usr/bin/true\" key=\"exec\""));
            pipeline.OnRecord(AuditMessageType.Eoe, Encoding.UTF8.GetBytes("audit(1795567850.751:1173900): "));
            pipeline.Flush();
            await collector.WaitForStoredAsync(1, ShippingHarness.Patience);
        }
        await ActivatorUtilities.CreateInstance<HeartbeatJob>(host.Services).Execute(null!, CancellationToken.None);
        await shipper.StopAsync(CancellationToken.None);

        Assert.True(collector.Heartbeats.TryDequeue(out var heartbeat));
        var batch = collector.Stored.Values.Single(b => b.Events.Count > 0);
        Assert.Equal(1173900ul, Assert.Single(batch.Events).Serial);
        Assert.Equal(AgentRulesLoader.HashOf(rules), heartbeat.RulesHash);
        Assert.Equal(heartbeat.RulesHash, batch.RulesHash);
    }
}
