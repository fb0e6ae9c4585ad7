using System.Text.Json;
using Sluice.Collector.Cli;
using Sluice.Collector.Tests.Support;
using static Sluice.Collector.Tests.Support.CollectorHarness;

namespace Sluice.Collector.Tests.Cli;

public sealed class ExportCommandTests : IDisposable
{
    private readonly SqliteStoreFactory _stores = new();
    private readonly string _out = Path.Combine(Path.GetTempPath(), $"sluice-export-{Guid.NewGuid():N}.jsonl");

    public void Dispose()
    {
        _stores.Dispose();
        File.Delete(_out);
    }

    [Fact]
    public async Task Run_FromToIsoAndUnixSeconds_WritesOnlyThatWindowToTheFile()
    {
        var (store, spec) = await _stores.CreateAsync();
        await using var h = await CollectorHarness.StartAsync(store);
        // 100 events, 10 ms apart, from 2025-11-25T00:00:00.000Z.
        await h.Client().SendAsync(TestEvents.Batch(AgentA, 1, 100), Bearer(TokenA));
        var stderr = new StringWriter();

        int rc = await ExportCommand.RunAsync(spec, AgentA, "2025-11-25T00:00:00.250Z", "1764028800.750", _out, stderr, CancellationToken.None);

        Assert.Equal(0, rc);
        Assert.Equal("sluice-collector export: 50 events", stderr.ToString().Trim());
        var lines = await File.ReadAllLinesAsync(_out);
        Assert.Equal(50, lines.Length);
        Assert.Equal(26ul, JsonDocument.Parse(lines[0]).RootElement.GetProperty("serial").GetUInt64());
        Assert.Equal(75ul, JsonDocument.Parse(lines[^1]).RootElement.GetProperty("serial").GetUInt64());
    }

    [Fact]
    public async Task Run_BadTime_UsageErrorNamingTheOption()
    {
        var (_, spec) = await _stores.CreateAsync();
        var stderr = new StringWriter();

        int rc = await ExportCommand.RunAsync(spec, null, "yesterday-ish", null, _out, stderr, CancellationToken.None);

        Assert.Equal(2, rc);
        Assert.Contains("--from 'yesterday-ish': expected an ISO 8601 time", stderr.ToString());
    }
}
