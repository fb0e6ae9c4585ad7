using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Sluice.Agent.Shipping;
using Sluice.Agent.Spool;
using Sluice.Agent.Tests.Spool;

namespace Sluice.Agent.Tests.Shipping;

public sealed class DeliveryServiceCollectionExtensionsTests
{
    private static IHost BuildHost(Dictionary<string, string?> settings, IIngestClient? client = null)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddSingleton(new AgentIdentity(TestBatches.AgentId, "host-di", "boot-di"));
        if (client is not null)
        {
            builder.Services.AddSingleton(client);
        }
        builder.Services.AddSluiceDelivery(builder.Configuration);
        return builder.Build();
    }

    private static Dictionary<string, string?> Settings(TestCollector collector, string dir) => new()
    {
        ["Spool:Directory"] = Path.Combine(dir, "spool"),
        ["Spool:MaxBytes"] = "4194304",
        ["Spool:SegmentBytes"] = "262144",
        ["Shipping:CollectorUrl"] = collector.Url,
        ["Shipping:AllowInsecureTransport"] = "true",
        ["Shipping:Token"] = collector.Token,
        ["Shipping:QuarantineDirectory"] = Path.Combine(dir, "quarantine"),
        ["Batching:MaxEvents"] = "10",
        ["Batching:MaxBytes"] = "65536",
        ["Batching:MaxDelay"] = "00:00:00.050",
    };

    [Fact]
    public async Task AddSluiceDelivery_EventsAddedToTheBatcher_ReachTheCollector()
    {
        await using var collector = await TestCollector.StartAsync();
        using var dir = new TempDirectory("sluice-di");
        using var host = BuildHost(Settings(collector, dir.Path));
        await host.StartAsync();
        var batcher = host.Services.GetRequiredService<Batcher>();
        for (ulong i = 1; i <= 25; i++)
        {
            batcher.Add(TestBatches.CreateEvent(i));
        }
        await collector.WaitForStoredAsync(3, ShippingHarness.Patience);
        await ShippingHarness.WaitForAsync(() => host.Services.GetRequiredService<DiskSpool>().Counters.DepthBatches == 0, "acks");
        await host.StopAsync();
        var serials = collector.Stored.OrderBy(kv => kv.Key.Sequence).SelectMany(kv => kv.Value.Events).Select(e => e.Serial);
        Assert.Equal(Enumerable.Range(1, 25).Select(i => (ulong)i), serials);
        Assert.Equal(new ulong[] { 1, 2, 3 }, collector.Stored.Keys.Select(k => k.Sequence).Order());
    }

    [Fact]
    public async Task AddSluiceDelivery_IngestClientRegisteredBefore_ShipperAndHeartbeatsGoThroughIt()
    {
        await using var collector = await TestCollector.StartAsync();
        using var dir = new TempDirectory("sluice-di");
        using var transport = IngestTransport.Create(ShippingHarness.DefaultShipperOptions(collector, dir.Path));
        var client = new InterceptedIngestClient(transport);
        int sends = 0;
        client.OnSend = (_, _, send) =>
        {
            Interlocked.Increment(ref sends);
            return send();
        };
        using var host = BuildHost(Settings(collector, dir.Path), client);
        await host.StartAsync();
        Assert.Same(client, Assert.Single(host.Services.GetRequiredService<Shipper>().Collectors.Endpoints).Client);
        var batcher = host.Services.GetRequiredService<Batcher>();
        for (ulong i = 1; i <= 25; i++)
        {
            batcher.Add(TestBatches.CreateEvent(i));
        }
        await collector.WaitForStoredAsync(3, ShippingHarness.Patience);
        await ShippingHarness.WaitForAsync(() => host.Services.GetRequiredService<DiskSpool>().Counters.DepthBatches == 0, "acks");
        var heartbeats = host.Services.GetRequiredService<HeartbeatSender>();
        Assert.NotNull(await heartbeats.SendAsync(new HeartbeatValues { Version = "test", StartedAt = DateTimeOffset.UtcNow, Mode = "unicast" }, CancellationToken.None));
        await host.StopAsync();

        Assert.True(Volatile.Read(ref sends) >= 3, $"sends through the client: {sends}");
        Assert.Equal(new ulong[] { 1, 2, 3 }, collector.Stored.Keys.Select(k => k.Sequence).Order());
        Assert.Single(collector.Heartbeats);
    }

    [Theory]
    [InlineData("Shipping:MaxInFlight", "0", "MaxInFlight")]
    [InlineData("Spool:SegmentBytes", "4194304", "Spool:SegmentBytes")]
    [InlineData("Shipping:CollectorUrl", "collector:7443", "Shipping:CollectorUrl")]
    [InlineData("Batching:MaxEvents", "-1", "MaxEvents")]
    [InlineData("Shipping:AttemptTimeout", "00:00:00.001", "The field ShipperOptions.AttemptTimeout must be between 00:00:00.010 and 00:10:00.")]
    [InlineData("Spool:FsyncInterval", "00:20:00", "The field SpoolOptions.FsyncInterval must be between 00:00:00.001 and 00:10:00.")]
    [InlineData("Batching:MaxDelay", "00:00:00", "The field BatcherOptions.MaxDelay must be between 00:00:00.001 and 00:10:00.")]
    public async Task AddSluiceDelivery_InvalidConfig_FailsAtStartNamingTheKey(string key, string value, string named)
    {
        await using var collector = TestCollector.NotListening();
        using var dir = new TempDirectory("sluice-di");
        var settings = Settings(collector, dir.Path);
        settings[key] = value;
        using var host = BuildHost(settings);
        var e = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());
        var failures = e is AggregateException a ? a.InnerExceptions : [e];
        Assert.All(failures, f => Assert.IsType<OptionsValidationException>(f));
        Assert.Contains(named, string.Join(" ", failures.Select(f => f.Message)));
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "spool")), "nothing is created before the config is valid");
    }
}
