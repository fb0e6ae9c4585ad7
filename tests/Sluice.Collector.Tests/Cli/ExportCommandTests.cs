using System.Diagnostics;
using System.Text.Json;
using Sluice.Collector.Cli;
using Sluice.Collector.Export;
using Sluice.Collector.Storage;
using Sluice.Collector.Tests.Ocsf;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;
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

    /// <summary>Runs the built <c>sluice-collector</c> with <paramref name="args"/>: its exit code and stderr.</summary>
    private static async Task<(int Code, string Stderr)> RunCliAsync(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "sluice-collector.dll"));
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(psi)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        await stdout;
        return (process.ExitCode, await stderr);
    }

    [Fact]
    public async Task Cli_FormatOcsf_EveryStoredCorpusEventAsTheMappingWritesIt()
    {
        var (store, spec) = await _stores.CreateAsync();
        var corpus = OcsfCorpus.Load("kernel-6.18-raw.log");
        var batch = new EventBatch { AgentId = OcsfCorpus.AgentId, Hostname = OcsfCorpus.Hostname, Sequence = 1, Epoch = "e1", EpochStartSequence = 1 };
        batch.Events.AddRange(corpus.Select(s => s.Event));
        await store.StoreBatchAsync(batch, TestEvents.BaseUnixMs, CancellationToken.None);
        var expected = new List<byte[]>();
        await foreach (StoredEvent stored in store.ReadEventsAsync(new EventQuery(), CancellationToken.None))
        {
            expected.Add(OcsfCorpus.Ocsf(stored));
        }
        await store.DisposeAsync();

        var (code, stderr) = await RunCliAsync("export", "--store", spec, "--format", "ocsf", "--out", _out);

        Assert.Equal(0, code);
        Assert.Equal($"sluice-collector export: {corpus.Count} events", stderr.Trim());
        byte[] written = await File.ReadAllBytesAsync(_out);
        Assert.Equal(expected.SelectMany(l => l.Append((byte)'\n')).ToArray(), written);
        var facts = OcsfSchemaFacts.Load();
        var classes = new HashSet<int>();
        foreach (byte[] line in expected)
        {
            JsonElement ev = JsonDocument.Parse(line).RootElement;
            Assert.Empty(facts.Check(ev));
            classes.Add(ev.GetProperty("class_uid").GetInt32());
        }
        Assert.Equal([0, 1001, 1007, 3001, 3002, 4001], classes.Order());
    }

    [Fact]
    public async Task Cli_DefaultFormat_IsTheReplayFormat()
    {
        var (store, spec) = await _stores.CreateAsync();
        await using (var h = await CollectorHarness.StartAsync(store))
        {
            await h.Client().SendAsync(TestEvents.Batch(AgentA, 1, 3), Bearer(TokenA));
        }

        var (code, _) = await RunCliAsync("export", "--store", spec, "--out", _out);

        Assert.Equal(0, code);
        var lines = await File.ReadAllLinesAsync(_out);
        Assert.Equal(3, lines.Length);
        Assert.All(lines, l => Assert.True(JsonDocument.Parse(l).RootElement.TryGetProperty("records", out _)));
    }

    [Fact]
    public async Task Cli_BadFormat_UsageErrorBeforeAnythingIsWritten()
    {
        var (store, spec) = await _stores.CreateAsync();
        await store.DisposeAsync();

        var (code, stderr) = await RunCliAsync("export", "--store", spec, "--format", "xml", "--out", _out);

        Assert.Equal(2, code);
        Assert.Equal("sluice-collector export: --format 'xml': expected replay or ocsf", stderr.Trim());
        Assert.False(File.Exists(_out));
    }

    [Fact]
    public void ParseFormat_AnyCase_AsReportTakesItsFormat()
    {
        Assert.Equal(ExportFormat.Ocsf, EventExporter.ParseFormat("ocsf"));
        Assert.Equal(ExportFormat.Ocsf, EventExporter.ParseFormat("OCSF"));
        Assert.Equal(ExportFormat.Replay, EventExporter.ParseFormat("replay"));
        Assert.Throws<FormatException>(() => EventExporter.ParseFormat("ocsf1"));
    }
}
