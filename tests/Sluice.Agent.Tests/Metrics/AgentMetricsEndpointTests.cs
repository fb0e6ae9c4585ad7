using System.Net;
using System.Net.Sockets;
using Sluice.Agent.Configuration;
using Sluice.Agent.Metrics;
using Sluice.Agent.Monitoring;
using Sluice.Agent.Tests.Monitoring;
using Sluice.Testing;

namespace Sluice.Agent.Tests.Metrics;

/// <summary>
/// The agent's <c>Status:MetricsListen</c>: its value, the Prometheus text it serves (checked by
/// promtool, and against the table in docs/metrics.md), and a listener that cannot bind. The agent's
/// own code serves it here, in the test process, without the kernel; <see cref="PublishedAgentMetricsTests"/>
/// scrapes the published agent.
/// </summary>
public sealed class AgentMetricsEndpointTests
{
    /// <summary>A meter name of this test's own: exporters pick meters by name, and other tests' agents have "Sluice.Agent".</summary>
    internal static string TestMeterName() => "Sluice.Agent.Test." + Guid.NewGuid().ToString("N");

    internal static async Task<string> ScrapeAsync(int port)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        using var response = await http.GetAsync($"http://127.0.0.1:{port}/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        return await response.Content.ReadAsStringAsync();
    }

    [Theory]
    [InlineData("127.0.0.1:9464", "127.0.0.1", 9464, true)]
    [InlineData("[::1]:9464", "[::1]", 9464, true)]
    [InlineData("localhost:1", "localhost", 1, true)]
    [InlineData("0.0.0.0:65535", "0.0.0.0", 65535, false)]
    [InlineData("192.0.2.7:9464", "192.0.2.7", 9464, false)]
    public void Parse_HostPort(string value, string host, int port, bool loopback)
    {
        var listen = MetricsListen.Parse(value)!;
        Assert.Equal((host, port, loopback), (listen.Host, listen.Port, listen.IsLoopback));
        Assert.Equal($"http://{host}:{port}/metrics", listen.Url);
    }

    [Theory]
    [InlineData("9464", "expected HOST:PORT")]
    [InlineData("127.0.0.1", "expected HOST:PORT")]
    [InlineData("127.0.0.1:", "expected HOST:PORT")]
    [InlineData("127.0.0.1:0", "port '0' is not a number from 1 to 65535")]
    [InlineData("127.0.0.1:65536", "port '65536' is not a number from 1 to 65535")]
    [InlineData("127.0.0.1:http", "port 'http' is not a number")]
    [InlineData("::1:9464", "host '::1' is not")]
    [InlineData("10:9464", "host '10' is not")]
    [InlineData("metrics.example:9464", "host 'metrics.example' is not")]
    public void Parse_Malformed_RefusedNamingTheKeyAndWhatIsWrong(string value, string why)
    {
        var e = Assert.Throws<FormatException>(() => MetricsListen.Parse(value));
        Assert.StartsWith($"Status:MetricsListen '{value}': ", e.Message);
        Assert.Contains(why, e.Message);
    }

    [Fact]
    public void Parse_Empty_IsOff() => Assert.Null(MetricsListen.Parse(""));

    [Fact]
    public async Task Scrape_PromtoolFindsNoProblem_AndTheFamiliesAreTheDocumentedOnes()
    {
        using var metrics = AgentInstrumentsTests.Busy(TestMeterName());
        int port = LoopbackPort.Free();
        using var provider = PrometheusListener.Create(MetricsListen.Parse($"127.0.0.1:{port}")!, metrics.Meter.Name);

        string text = await ScrapeAsync(port);

        var (exitCode, problems) = Promtool.CheckMetrics(text);
        Assert.True(exitCode == 0 && problems.Length == 0, $"promtool check metrics: exit {exitCode}\n{problems}\n---\n{text}");
        var families = PrometheusText.Families(text);
        Assert.Equal(PrometheusText.Documented(PrometheusText.RepoRoot(), "Agent metrics").Order(), families.Keys.Order());
        Assert.All(families, f => Assert.Equal(f.Key.EndsWith("_total", StringComparison.Ordinal) ? "counter" : "gauge", f.Value));

        // The values are the agent's figures, in the units the names say.
        var samples = PrometheusText.Samples(text);
        var status = metrics.Snapshot();
        Assert.Equal(status.Events, samples["sluice_events_total"]);
        Assert.Equal(status.KernelLost, samples["sluice_loss_events_total{kind=\"kernel_lost\"}"]);
        Assert.Equal(status.Spool!.Value.QuarantinedEvents, samples["sluice_loss_events_total{kind=\"quarantined\"}"]);
        Assert.Equal(status.TotalLoss, samples.Where(s => s.Key.StartsWith("sluice_loss_events_total{", StringComparison.Ordinal)).Sum(s => s.Value));
        Assert.Equal(status.Spool!.Value.DepthBytes, samples["sluice_spool_bytes"]);
        Assert.Equal(status.Shipping!.PacedAcks, samples["sluice_shipper_paced_acks_total"]);
        Assert.Equal(2.5, samples["sluice_shipper_pace_seconds"]);
        Assert.Equal(status.Backlog, samples["sluice_kernel_backlog"]);
        Assert.Equal(0.05, samples["sluice_drain_interval_seconds"]);
        Assert.Equal(12, samples["sluice_filter_matched_total{action=\"Drop\",rule=\"cron\"}"]);
        Assert.True(samples["process_resident_memory_bytes"] > 1 << 20);
        Assert.Equal(status.Enrichment.TableBytes, samples["sluice_enrichment_table_bytes"]);
        Assert.Equal(status.Enrichment.ParentUnknown, samples["sluice_enrichment_unknown_total{field=\"parent\"}"]);
    }

    [Fact]
    public void Promtool_FlagsTextThatBreaksTheConventions()
    {
        // The check the scrapes rely on does fail: a counter without _total, a family without HELP.
        var (exitCode, problems) = Promtool.CheckMetrics("# TYPE sluice_events counter\nsluice_events 1\n");
        Assert.True(exitCode != 0 || problems.Length > 0, "promtool found nothing wrong with a counter without _total or HELP");
        Assert.Contains("_total", problems);
    }

    [Fact]
    public async Task Listener_PortTaken_LoggedAndTheAgentRunsOn()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int port = ((IPEndPoint)taken.LocalEndpoint).Port;
        var options = new AgentOptions { Status = new StatusOptions { MetricsListen = $"127.0.0.1:{port}" } };
        var logger = new CapturingLogger<PrometheusListener>();
        using var listener = new PrometheusListener(options, logger);

        await listener.StartAsync(CancellationToken.None);

        Assert.Contains(logger.Lines, l => l.StartsWith($"Error Status:MetricsListen: cannot serve metrics at http://127.0.0.1:{port}/metrics", StringComparison.Ordinal));
        await listener.StopAsync(CancellationToken.None);
    }

    /// <summary>An IPv4 address of this machine that is not loopback: the tests need one.</summary>
    private static IPAddress NonLoopbackIPv4()
    {
        var address = System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == System.Net.NetworkInformation.OperationalStatus.Up)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses).Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));
        Assert.True(address is not null, "this test needs a non-loopback IPv4 address on the machine");
        return address;
    }

    [Fact]
    public async Task Listener_NotLoopback_WarnsThatAnyoneWhoCanConnectReadsIt()
    {
        var address = NonLoopbackIPv4();
        int port = LoopbackPort.Free();
        var options = new AgentOptions { Status = new StatusOptions { MetricsListen = $"{address}:{port}" } };
        var logger = new CapturingLogger<PrometheusListener>();
        using (var listener = new PrometheusListener(options, logger))
        {
            await listener.StartAsync(CancellationToken.None);
            Assert.Contains(logger.Lines, l => l.StartsWith($"Warning Status:MetricsListen: the metrics listener is on {address}, not a loopback address", StringComparison.Ordinal));
            // Bound where configured, and only there.
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"http://{address}:{port}/metrics")).StatusCode);
            await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync($"http://127.0.0.1:{port}/metrics"));
            await listener.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task Listener_AllAddresses_AnswersOnLoopbackAndTheHostsAddress_AndWarns()
    {
        var address = NonLoopbackIPv4();
        int port = LoopbackPort.Free();
        var options = new AgentOptions { Status = new StatusOptions { MetricsListen = $"0.0.0.0:{port}" } };
        var logger = new CapturingLogger<PrometheusListener>();
        using var listener = new PrometheusListener(options, logger);
        await listener.StartAsync(CancellationToken.None);

        Assert.True(logger.Lines.Any(l => l.StartsWith("Warning Status:MetricsListen: the metrics listener is on 0.0.0.0, not a loopback address", StringComparison.Ordinal)),
            string.Join("\n", logger.Lines));
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"http://127.0.0.1:{port}/metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"http://{address}:{port}/metrics")).StatusCode);
        await listener.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Listener_Off_BindsNothingAndLogsNothing()
    {
        var logger = new CapturingLogger<PrometheusListener>();
        using var listener = new PrometheusListener(new AgentOptions(), logger);
        await listener.StartAsync(CancellationToken.None);
        Assert.Empty(logger.Lines);
        await listener.StopAsync(CancellationToken.None);
    }
}

/// <summary>Keeps each log line as "Level message".</summary>
internal sealed class CapturingLogger<T> : Microsoft.Extensions.Logging.ILogger<T>
{
    private readonly List<string> _lines = [];

    public IReadOnlyList<string> Lines { get { lock (_lines) { return [.. _lines]; } } }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

    public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_lines)
        {
            _lines.Add($"{logLevel} {formatter(state, exception)}");
        }
    }
}
