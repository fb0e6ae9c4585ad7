using System.Net;
using System.Net.Http.Headers;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Grpc.Core;
using Grpc.Net.Client;
using Sluice.Collector.Hosting;
using Sluice.Collector.Storage;
using Sluice.Collector.Tests.Support;
using Sluice.Testing;
using static Sluice.Collector.Tests.Support.CollectorHarness;
using IngestClient = Sluice.Protocol.V1.Ingest.IngestClient;

namespace Sluice.Collector.Tests.Metrics;

/// <summary>
/// The collector's <c>/metrics</c>: Prometheus text promtool finds no problem with, the families of
/// docs/metrics.md, the dashboard's access rules, and a real Prometheus reading back the batch it refused.
/// </summary>
public sealed class CollectorMetricsTests : IDisposable
{
    private const string DashboardToken = "0123456789abcdef-dashboard";
    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-collector-metrics-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static HttpClient Http1() => new()
    {
        DefaultRequestVersion = HttpVersion.Version11,
        DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        Timeout = TimeSpan.FromSeconds(30),
    };

    /// <summary>A collector over a SQLite store of its own, with agent-a enrolled; its meter has a name of its own (other tests' collectors run in this process).</summary>
    private async Task<CollectorServer> StartAsync(string listen = "127.0.0.1:0", string? dashboardTokenFile = null, bool dashboard = true)
    {
        string dir = Directory.CreateDirectory(Path.Combine(_dir, Guid.NewGuid().ToString("N"))).FullName;
        string tokens = Path.Combine(dir, "tokens");
        await PrivateFile.WriteAsync(tokens, $"{AgentA} {TokenA}\n");
        return await CollectorServer.StartAsync(new CollectorOptions
        {
            Listen = listen,
            Store = new StoreLocation(StoreKind.Sqlite, Path.Combine(dir, "events.db")),
            TokensFile = tokens,
            Dashboard = dashboard,
            DashboardTokenFile = dashboardTokenFile,
            MeterName = "Sluice.Collector.Test." + Guid.NewGuid().ToString("N"),
        });
    }

    private async Task<string> TokenFileAsync()
    {
        string file = Path.Combine(_dir, "dashboard.token");
        await PrivateFile.WriteAsync(file, DashboardToken + "\n");
        return file;
    }

    /// <summary>One batch stored (3 events), one refused as invalid (sequence 0), one call with a wrong token.</summary>
    private static async Task SendAsync(CollectorServer server)
    {
        using var channel = GrpcChannel.ForAddress(server.Address);
        var client = new IngestClient(channel);
        await client.SendAsync(TestEvents.Batch(AgentA, 1, 3), Bearer(TokenA));
        var invalid = await Assert.ThrowsAsync<RpcException>(() => client.SendAsync(TestEvents.Batch(AgentA, 0, 1), Bearer(TokenA)).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, invalid.StatusCode);
        var unauthenticated = await Assert.ThrowsAsync<RpcException>(() => client.SendAsync(TestEvents.Batch(AgentA, 2, 1), Bearer("wrong-token-0123456789")).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, unauthenticated.StatusCode);
    }

    [Fact]
    public async Task Metrics_PromtoolFindsNoProblem_FamiliesAreTheDocumentedOnes_CountsAreIngestsOwn()
    {
        await using var server = await StartAsync();
        await using var _ = server.Store;
        await SendAsync(server);
        using var http = Http1();

        using var response = await http.GetAsync(new Uri(server.Address, "/metrics"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        string text = await response.Content.ReadAsStringAsync();

        var (exitCode, problems) = Promtool.CheckMetrics(text);
        Assert.True(exitCode == 0 && problems.Length == 0, $"promtool check metrics: exit {exitCode}\n{problems}\n---\n{text}");
        var families = PrometheusText.Families(text);
        Assert.Equal(PrometheusText.Documented(PrometheusText.RepoRoot(), "Collector metrics").Order(), families.Keys.Order());
        Assert.All(families, f => Assert.Equal(f.Key.EndsWith("_total", StringComparison.Ordinal) ? "counter" : "gauge", f.Value));

        var samples = PrometheusText.Samples(text);
        var c = server.Counters;
        Assert.Equal((1, 1), (c.BatchesStored, c.RefusedInvalidBatches));
        Assert.Equal(c.BatchesStored, samples["sluice_ingest_batches_total{result=\"stored\"}"]);
        Assert.Equal(c.RefusedInvalidBatches, samples["sluice_ingest_batches_total{result=\"invalid\"}"]);
        Assert.Equal(0, samples["sluice_ingest_batches_total{result=\"duplicate\"}"]);
        Assert.Equal(3, samples["sluice_ingest_events_stored_total"]);
        Assert.Equal(1, samples["sluice_ingest_refused_calls_total{reason=\"invalid\"}"]);
        Assert.Equal(c.RefusedUnauthenticated, samples["sluice_ingest_refused_calls_total{reason=\"unauthenticated\"}"]);
        Assert.Equal(1, c.RefusedUnauthenticated);

        // /api/ingest reports what it did before, beside the new batch count.
        string ingest = await http.GetStringAsync(new Uri(server.Address, "/api/ingest"));
        Assert.Contains("\"refused_invalid\":1", ingest);
        Assert.DoesNotContain("invalid_batches", ingest);
    }

    [Fact]
    public async Task Metrics_DashboardTokenConfigured_RefusedWithoutIt_AnsweredWithIt()
    {
        await using var server = await StartAsync(dashboardTokenFile: await TokenFileAsync());
        await using var _ = server.Store;
        using var http = Http1();
        var url = new Uri(server.Address, "/metrics");

        using (var none = await http.GetAsync(url))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
            Assert.Equal("Bearer", none.Headers.WwwAuthenticate.Single().Scheme);
            Assert.DoesNotContain("sluice_", await none.Content.ReadAsStringAsync());
        }
        using (var wrong = new HttpRequestMessage(HttpMethod.Get, url) { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", DashboardToken + "x") } })
        using (var response = await http.SendAsync(wrong))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }
        // An agent's token is not the dashboard's.
        using (var agent = new HttpRequestMessage(HttpMethod.Get, url) { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", TokenA) } })
        using (var response = await http.SendAsync(agent))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }
        using (var right = new HttpRequestMessage(HttpMethod.Get, url) { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", DashboardToken) } })
        using (var response = await http.SendAsync(right))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains("sluice_ingest_batches_total{result=\"stored\"} 0", await response.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task Metrics_NoTokenFile_LocalClientsOnly_NotOtherHostsOrNames()
    {
        var address = NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));
        Assert.True(address is not null, "this test needs a non-loopback IPv4 address on the machine to connect from");
        await using var server = await StartAsync(listen: "0.0.0.0:0");
        await using var _ = server.Store;
        int port = server.Address.Port;
        using var http = Http1();

        // From loopback, addressed as loopback: answered.
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"http://127.0.0.1:{port}/metrics")).StatusCode);
        // From the host's network address: refused.
        using (var remote = await http.GetAsync($"http://{address}:{port}/metrics"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, remote.StatusCode);
            Assert.Contains("local clients only", await remote.Content.ReadAsStringAsync());
        }
        // From loopback under another site's name (DNS rebinding): refused.
        using var rebound = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}/metrics");
        rebound.Headers.Host = "attacker.example";
        using (var response = await http.SendAsync(rebound))
        {
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        }
    }

    [Fact]
    public async Task Metrics_NoDashboard_NotServed()
    {
        await using var server = await StartAsync(dashboard: false);
        await using var _ = server.Store;
        // Without the dashboard the cleartext port speaks HTTP/2 only (gRPC): ask in HTTP/2.
        using var http = new HttpClient { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(new Uri(server.Address, "/metrics"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri(server.Address, "/healthz"))).StatusCode);
    }

    [Fact]
    public async Task Prometheus_ScrapesWithTheDashboardToken_ReadsBackTheRefusedBatch()
    {
        string tokenFile = await TokenFileAsync();
        await using var server = await StartAsync(dashboardTokenFile: tokenFile);
        await using var _ = server.Store;
        await SendAsync(server);
        // Prometheus reads the token from a file of its own (it runs as this user here).
        string prometheusToken = Path.Combine(_dir, "prometheus.token");
        File.WriteAllText(prometheusToken, DashboardToken);

        using var prometheus = await PrometheusServer.StartAsync(
        [
            new ScrapeTarget("collector", $"127.0.0.1:{server.Address.Port}", prometheusToken),
            new ScrapeTarget("collector-no-token", $"127.0.0.1:{server.Address.Port}"),
        ]);

        await prometheus.WaitForValueAsync("sluice_ingest_batches_total{job=\"collector\",result=\"invalid\"}", 1, TimeSpan.FromSeconds(90));
        await prometheus.WaitForValueAsync("sluice_ingest_batches_total{job=\"collector\",result=\"stored\"}", 1, TimeSpan.FromSeconds(90));
        await prometheus.WaitForValueAsync("sluice_ingest_refused_calls_total{job=\"collector\",reason=\"unauthenticated\"}", 1, TimeSpan.FromSeconds(90));
        // The job without the token is refused, and Prometheus says so.
        await prometheus.WaitForValueAsync("up{job=\"collector-no-token\"}", 0, TimeSpan.FromSeconds(90));
        var targets = await prometheus.TargetsAsync();
        Assert.Equal(("up", ""), targets["collector"]);
        Assert.Equal("down", targets["collector-no-token"].Health);
        Assert.Contains("401", targets["collector-no-token"].LastError);
    }
}
