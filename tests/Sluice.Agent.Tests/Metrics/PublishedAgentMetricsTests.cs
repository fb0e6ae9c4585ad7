using Sluice.Testing;

namespace Sluice.Agent.Tests.Metrics;

/// <summary>
/// The published agent (NativeAOT, deploy/publish.sh) with <c>Status:MetricsListen</c>: it takes
/// over the real kernel (JSON Lines sink), so these run in the serialized kernel collection with
/// the kernel's status and rules restored after.
/// </summary>
[Collection(KernelAuditFixture.Collection)]
public sealed class PublishedAgentMetricsTests : IDisposable
{
    private readonly KernelStateGuard _guard = new();
    private readonly bool _auditdWasRunning = Kernel.Auditd.IsRunning();

    public void Dispose()
    {
        if (!_auditdWasRunning)
        {
            Kernel.Auditd.Stop();
        }
        _guard.Dispose();
    }

    private static string ExecRule(string key) => $"-a always,exit -F arch=b64 -S execve -F key={key}\n";

    [Fact]
    public async Task Run_MetricsListen_ServesPrometheusTextPromtoolAccepts_WithTheFiguresStatusShows()
    {
        int port = LoopbackPort.Free();
        // A filter rule, so that the per-rule families are there too (they have a series per rule).
        using var agent = AgentRunner.Start(ExecRule(TestRules.UniqueKey("metrics")),
            "\"Filters\": [ { \"Name\": \"metrics-test\", \"Keys\": [ \"sluice-metrics-no-such-key\" ], \"Action\": \"Drop\" } ]",
            new() { ["SLUICE_Status__MetricsListen"] = $"127.0.0.1:{port}" });
        var status = agent.WaitReady();
        string output = agent.WaitForOutput($"Metrics: Prometheus text at http://127.0.0.1:{port}/metrics");
        Assert.DoesNotContain("not a loopback address", output);

        string text = await AgentMetricsEndpointTests.ScrapeAsync(port);

        var (exitCode, problems) = Promtool.CheckMetrics(text);
        Assert.True(exitCode == 0 && problems.Length == 0, $"promtool check metrics: exit {exitCode}\n{problems}\n---\n{text}");
        // Every family is documented; with the JSON Lines sink the spool's are absent, the rest are there.
        var documented = PrometheusText.Documented(PrometheusText.RepoRoot(), "Agent metrics");
        var families = PrometheusText.Families(text);
        Assert.Subset(documented.ToHashSet(), families.Keys.ToHashSet());
        string[] collectorSinkOnly =
            ["sluice_events_delivered_total", "sluice_loss_batches_total", "sluice_quarantine_trimmed_events_total", "sluice_spool_bytes", "sluice_spool_batches", "sluice_spool_events",
             "sluice_shipper_paced_acks_total", "sluice_shipper_pace_seconds"];
        Assert.Equal(documented.Except(collectorSinkOnly).Order(), families.Keys.Order());
        var samples = PrometheusText.Samples(text);
        Assert.Equal(status.RulesLoaded, samples["sluice_rules_loaded"]);
        Assert.Equal(status.BacklogLimit, samples["sluice_kernel_backlog_limit"]);
        Assert.Equal(7, samples.Keys.Count(k => k.StartsWith("sluice_loss_events_total{kind=", StringComparison.Ordinal)));
        Assert.Equal(0, samples["sluice_filter_dropped_total{action=\"Drop\",rule=\"metrics-test\"}"]);
        Assert.InRange(samples["process_resident_memory_bytes"], 1 << 20, 1L << 32);

        Assert.Equal(0, agent.Stop());
    }

    [Fact]
    public async Task Run_MetricsListenMalformed_RefusedBeforeTheKernelIsTouched()
    {
        string dir = Directory.CreateTempSubdirectory("sluice-metrics-config-").FullName;
        try
        {
            string config = Path.Combine(dir, "agent.json");
            File.WriteAllText(config, AgentRunner.Config(dir, ""));
            var before = KernelSnapshot.Take();
            var psi = new System.Diagnostics.ProcessStartInfo(AgentProcess.ExePath, $"run --config {config}")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            psi.Environment["SLUICE_Status__MetricsListen"] = "0.0.0.0";
            using var p = System.Diagnostics.Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEndAsync();
            string stdout = await p.StandardOutput.ReadToEndAsync();
            Assert.True(p.WaitForExit(TimeSpan.FromSeconds(60)));
            string output = stdout + await stderr;

            Assert.Equal(2, p.ExitCode);
            Assert.Contains("Status:MetricsListen '0.0.0.0': expected HOST:PORT", output);
            var after = KernelSnapshot.Take();
            Assert.Equal((before.Status.Pid, before.Status.Enabled, before.Rules.Count), (after.Status.Pid, after.Status.Enabled, after.Rules.Count));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
