using Sluice.Agent.Metrics;
using Sluice.Agent.Monitoring;
using Sluice.Agent.Shipping;
using Sluice.Agent.Spool;
using Sluice.Agent.Tests.Spool;
using Sluice.Collector.Hosting;
using Sluice.Collector.Storage;
using Sluice.Testing;

namespace Sluice.Agent.Tests.Metrics;

/// <summary>
/// A real Prometheus (Debian's, started here on loopback) scrapes an agent and a real collector,
/// and the loss one batch the collector refuses causes is read back from its query API at both ends.
/// </summary>
/// <remarks>
/// The agent's side runs its own delivery path (disk spool and shipper) and metrics listener in this
/// process, without the kernel: a refused batch is a real loss kind (quarantined), reached the way a
/// running agent reaches it, and its count is known exactly, where a kernel-side loss is not.
/// </remarks>
public sealed class PrometheusScrapeTests
{
    private const string AgentId = TestBatches.AgentId;
    private const string Token = "metrics-test-token-0123456789";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Prometheus_ScrapesAgentAndCollector_ReadsBackTheRefusedBatchAsLossAtBothEnds()
    {
        using var dir = new TempDirectory("sluice-metrics-test");
        string tokens = Path.Combine(dir.Path, "tokens");
        File.WriteAllText(tokens, $"{AgentId} {Token}\n");
        File.SetUnixFileMode(tokens, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await using var collector = await CollectorServer.StartAsync(new CollectorOptions
        {
            Listen = "127.0.0.1:0",
            Store = new StoreLocation(StoreKind.Sqlite, Path.Combine(dir.Path, "events.db")),
            TokensFile = tokens,
            MeterName = "Sluice.Collector.Test." + Guid.NewGuid().ToString("N"),
        });

        // Batch 1 is stored; batch 2 holds an event without records, which the collector refuses as
        // invalid: the agent sets it aside (quarantine) and counts its 4 events as lost.
        using var spool = DiskSpool.Open(new SpoolOptions { Directory = Path.Combine(dir.Path, "spool") });
        spool.Append(TestBatches.Create(1, 3));
        var invalid = TestBatches.Create(4, 4);
        invalid.Events[2].Records.Clear();
        spool.Append(invalid);
        using var shipper = new Shipper(spool, new ShipperOptions
        {
            CollectorUrl = collector.Address.ToString(),
            AllowInsecureTransport = true,
            Token = Token,
            RetryBaseDelay = TimeSpan.FromMilliseconds(10),
            QuarantineDirectory = Path.Combine(dir.Path, "quarantine"),
        });
        using var metrics = new AgentMetrics(null, AgentMetricsEndpointTests.TestMeterName()) { SpoolCounters = () => spool.Counters };
        int agentPort = LoopbackPort.Free();
        using var listener = PrometheusListener.Create(MetricsListen.Parse($"127.0.0.1:{agentPort}")!, metrics.Meter.Name);

        using var cts = new CancellationTokenSource();
        var shipping = shipper.RunAsync(cts.Token);
        try
        {
            var deadline = DateTime.UtcNow + Patience;
            while (spool.Counters.DepthBatches > 0)
            {
                Assert.True(DateTime.UtcNow < deadline, $"the spool still holds {spool.Counters.DepthBatches} batches; shipper: {shipper.Status}");
                await Task.Delay(20);
            }
        }
        finally
        {
            await cts.CancelAsync();
            await shipping.WaitAsync(Patience);
        }
        Assert.Equal((1L, 4L), (spool.Counters.QuarantinedBatches, spool.Counters.QuarantinedEvents));

        using var prometheus = await PrometheusServer.StartAsync(
        [
            new ScrapeTarget("agent", $"127.0.0.1:{agentPort}"),
            new ScrapeTarget("collector", $"127.0.0.1:{collector.Address.Port}"),
        ]);

        await prometheus.WaitForValueAsync("sluice_loss_events_total{job=\"agent\",kind=\"quarantined\"}", 4, Patience);
        await prometheus.WaitForValueAsync("sluice_loss_batches_total{job=\"agent\",kind=\"quarantined\"}", 1, Patience);
        await prometheus.WaitForValueAsync("sum(sluice_loss_events_total{job=\"agent\"})", 4, Patience);
        await prometheus.WaitForValueAsync("sluice_events_delivered_total{job=\"agent\"}", 3, Patience);
        await prometheus.WaitForValueAsync("sluice_ingest_batches_total{job=\"collector\",result=\"invalid\"}", 1, Patience);
        await prometheus.WaitForValueAsync("sluice_ingest_batches_total{job=\"collector\",result=\"stored\"}", 1, Patience);
        await prometheus.WaitForValueAsync("sluice_ingest_events_stored_total{job=\"collector\"}", 3, Patience);
        var targets = await prometheus.TargetsAsync();
        Assert.Equal(("up", ""), targets["agent"]);
        Assert.Equal(("up", ""), targets["collector"]);
    }
}
