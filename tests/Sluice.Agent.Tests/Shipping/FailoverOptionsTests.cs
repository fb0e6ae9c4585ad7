using Microsoft.Extensions.Options;
using Sluice.Agent.Configuration;
using Sluice.Agent.Shipping;
using Sluice.Agent.Tests.Spool;

namespace Sluice.Agent.Tests.Shipping;

/// <summary><c>Shipping:CollectorUrls</c> next to <c>Shipping:CollectorUrl</c>: one of them, each URL checked as the one URL is.</summary>
public sealed class FailoverOptionsTests : IDisposable
{
    private readonly TempDirectory _dir = new("sluice-failover-options");

    public void Dispose() => _dir.Dispose();

    private ShipperOptions Options(string? url, params string[] urls) => new()
    {
        CollectorUrl = url ?? "",
        CollectorUrls = [.. urls],
        AllowInsecureTransport = true,
        Token = "a-token-of-sixteen-chars",
        QuarantineDirectory = _dir.Path,
    };

    private static string Failures(ShipperOptions options) => string.Join("\n", new ShipperOptionsValidator().Validate(null, options).Failures ?? []);

    [Fact]
    public void Collectors_OneUrlOrTheList_InTheirOrder()
    {
        Assert.Equal(["https://a:7443"], Options("https://a:7443").CollectorsInOrder());
        Assert.Equal(["https://b:7443", "https://a:7443"], Options(null, "https://b:7443", "https://a:7443").CollectorsInOrder());
        Assert.Empty(Options(null).CollectorsInOrder());
        Assert.True(new ShipperOptionsValidator().Validate(null, Options(null, "https://b:7443", "http://127.0.0.1:7443")).Succeeded);
    }

    [Theory]
    [InlineData("https://a:7443", new[] { "https://b:7443" }, "Shipping:CollectorUrl / Shipping:CollectorUrls: set one of them, not both")]
    [InlineData(null, new string[0], "Shipping:CollectorUrl: the collector's URL is required (or several in Shipping:CollectorUrls)")]
    [InlineData(null, new[] { "https://a:7443", "collector-b:7443" }, "Shipping:CollectorUrls:1: 'collector-b:7443' is not an absolute https:// URL")]
    [InlineData(null, new[] { "https://a:7443", "" }, "Shipping:CollectorUrls:1: '' is not an absolute https:// URL")]
    [InlineData(null, new[] { "https://a:7443", "http://192.0.2.1:7443" }, "Shipping:AllowInsecureTransport: 'http://192.0.2.1:7443' (Shipping:CollectorUrls:1) is plain http to 192.0.2.1, which is not a loopback address")]
    [InlineData(null, new[] { "https://a:7443", "https://A:7443/" }, "Shipping:CollectorUrls:1: 'https://A:7443/' names the same collector as an earlier entry")]
    public void Validate_BadList_FailsNamingTheEntry(string? url, string[] urls, string expected)
    {
        Assert.Contains(expected, Failures(Options(url, urls)));
    }

    [Fact]
    public void Validate_CleartextInTheListWithoutTheSwitch_IsRefused()
    {
        var options = Options(null, "https://a:7443", "http://127.0.0.1:7443");
        options.AllowInsecureTransport = false;
        Assert.Contains("Shipping:CollectorUrls:1: 'http://127.0.0.1:7443' is plain http", Failures(options));
    }

    [Fact]
    public void Shipper_ClientsForAnotherNumberOfUrls_IsRefused()
    {
        using var spool = Sluice.Agent.Spool.DiskSpool.Open(new Sluice.Agent.Spool.SpoolOptions { Directory = Path.Combine(_dir.Path, "spool"), MaxBytes = 1024 * 1024, SegmentBytes = 64 * 1024 });
        var store = new FakeStore();
        Assert.Throws<ArgumentException>(() => new Shipper(spool, Options(null, "https://a:7443", "https://b:7443"), new FakeCollectorClient("A", store)));
        Assert.Throws<OptionsValidationException>(() => new Shipper(spool, Options("https://a:7443", "https://b:7443")));
    }

    [Fact]
    public void Load_CollectorUrlsInTheConfigFile_BoundInOrderAndSelectTheCollectorSink()
    {
        string path = Path.Combine(_dir.Path, "agent.json");
        File.WriteAllText(path, """
            { "Shipping": { "CollectorUrls": [ "https://collector-b.example:7443", "https://collector-a.example:7443" ], "Token": "a-token-of-sixteen-chars" } }
            """);
        var options = AgentConfiguration.Load(path);
        Assert.Equal(SinkType.Collector, options.Sink.Type);
        Assert.Equal(["https://collector-b.example:7443", "https://collector-a.example:7443"], options.Shipping.CollectorsInOrder());
        Assert.Equal(SinkType.Collector, SinkOptions.TypeFrom(AgentConfiguration.Build(path)));
    }

    [Fact]
    public void Load_ShippedConfig_HasAnEmptyListAndNoCollector()
    {
        var options = AgentConfiguration.Load(Path.Combine(AppContext.BaseDirectory, "config", "agent.json"));
        Assert.Empty(options.Shipping.CollectorUrls);
        Assert.Equal(SinkType.JsonLines, options.Sink.Type);
    }
}
