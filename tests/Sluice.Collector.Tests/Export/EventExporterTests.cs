using System.Text.Json;
using Sluice.Collector.Export;
using Sluice.Collector.Storage;
using Sluice.Collector.Tests.Ocsf;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;
using static Sluice.Collector.Tests.Support.CollectorHarness;

namespace Sluice.Collector.Tests.Export;

/// <summary>Events sent over gRPC come back out of the store, through export, byte for byte.</summary>
public abstract class EventExporterTests : PerStoreTests
{
    private protected EventExporterTests(IStoreFactory stores) : base(stores)
    {
    }

    /// <summary>Agent A: 3 batches of 30 events 10 ms apart from BaseUnixMs; agent B: one batch of 20 an hour later, plus a login event.</summary>
    private static async Task<List<(string Agent, Event Event)>> SendKnownSetAsync(CollectorHarness h)
    {
        var client = h.Client();
        var sent = new List<(string, Event)>();
        for (ulong s = 1; s <= 3; s++)
        {
            var b = TestEvents.Batch(AgentA, s, 30, firstSerial: (long)s * 1000, startUnixMs: TestEvents.BaseUnixMs + ((long)s - 1) * 300);
            await client.SendAsync(b, Bearer(TokenA));
            sent.AddRange(b.Events.Select(e => (AgentA, e)));
        }
        var bb = TestEvents.Batch(AgentB, 1, 20, firstSerial: 1, startUnixMs: TestEvents.BaseUnixMs + 3_600_000);
        bb.Events.Add(TestEvents.Login(500, TestEvents.BaseUnixMs + 3_600_000 + 999));
        await client.SendAsync(bb, Bearer(TokenB));
        sent.AddRange(bb.Events.Select(e => (AgentB, e)));
        // A resend must not show up twice in the export.
        await client.SendAsync(TestEvents.Batch(AgentA, 2, 30, firstSerial: 2000, startUnixMs: TestEvents.BaseUnixMs + 300), Bearer(TokenA));
        return sent;
    }

    private static async Task<List<JsonElement>> ExportAsync(IEventStore store, EventQuery query, ExportFormat format = ExportFormat.Replay)
    {
        using var output = new MemoryStream();
        long n = await EventExporter.ExportAsync(store, query, output, CancellationToken.None, format);
        var lines = System.Text.Encoding.UTF8.GetString(output.ToArray()).Split('\n');
        Assert.Equal("", lines[^1]);
        Assert.Equal(n, lines.Length - 1);
        return lines[..^1].Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
    }

    [Fact]
    public async Task Export_Everything_EachSentEventOnceInTimeOrderWithExactRecords()
    {
        await using var h = await CollectorHarness.StartAsync((await Stores.CreateAsync()).Store);
        var sent = await SendKnownSetAsync(h);

        var lines = await ExportAsync(h.Store, new EventQuery());

        Assert.Equal(sent.Count, lines.Count);
        var expected = sent.OrderBy(x => x.Event.TimeUnixMs).ThenBy(x => x.Event.Serial).ToList();
        for (int i = 0; i < lines.Count; i++)
        {
            var (agent, e) = expected[i];
            var line = lines[i];
            Assert.Equal(agent, line.GetProperty("agent_id").GetString());
            Assert.Equal(e.Serial, line.GetProperty("serial").GetUInt64());
            Assert.Equal(e.Timestamp, line.GetProperty("timestamp").GetString());
            var records = line.GetProperty("records").EnumerateArray().ToList();
            Assert.Equal(e.Records.Count, records.Count);
            for (int r = 0; r < records.Count; r++)
            {
                Assert.Equal(e.Records[r].Raw.ToByteArray(), JsonBytes.Decode(records[r].GetProperty("raw").GetRawText()));
            }
            if (e.Argv.Count > 0)
            {
                Assert.Equal(e.Argv.Select(a => a.ToByteArray()), line.GetProperty("argv").EnumerateArray().Select(a => JsonBytes.Decode(a.GetRawText())));
            }
        }
        // Some of the known set is not UTF-8 (TestEvents variant 3): it came back exact above, via \udcXX escapes.
        Assert.Contains(lines, l => l.GetRawText().Contains("\\udcff", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Export_Ocsf_EachSentEventOnceAsAConformingObjectWithExactRawRecords()
    {
        await using var h = await CollectorHarness.StartAsync((await Stores.CreateAsync()).Store);
        var sent = await SendKnownSetAsync(h);
        var facts = OcsfSchemaFacts.Load();

        var lines = await ExportAsync(h.Store, new EventQuery(), ExportFormat.Ocsf);

        Assert.Equal(sent.Count, lines.Count);
        var expected = sent.OrderBy(x => x.Event.TimeUnixMs).ThenBy(x => x.Event.Serial).ToList();
        for (int i = 0; i < lines.Count; i++)
        {
            var (agent, e) = expected[i];
            var line = lines[i];
            Assert.Empty(facts.Check(line));
            Assert.Equal(e.FirstType == "USER_LOGIN" ? 3002 : 1007, line.GetProperty("class_uid").GetInt32());
            Assert.StartsWith($"{agent}:", line.GetProperty("metadata").GetProperty("uid").GetString(), StringComparison.Ordinal);
            Assert.EndsWith($":{e.Serial}", line.GetProperty("metadata").GetProperty("uid").GetString(), StringComparison.Ordinal);
            Assert.Equal(agent + ".example", line.GetProperty("device").GetProperty("hostname").GetString());
            using var records = JsonDocument.Parse(line.GetProperty("raw_data").GetString()!);
            Assert.Equal(e.Records.Select(r => r.Raw.ToByteArray()), records.RootElement.EnumerateArray().Select(r => JsonBytes.Decode(r.GetProperty("raw").GetRawText())));
        }
        // the known set's arguments that are not UTF-8 came back exact above and in argv, via \udcXX escapes
        Assert.Contains(lines, l => l.GetProperty("unmapped").TryGetProperty("argv", out var argv) && argv.GetRawText().Contains("\\udcff", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Export_AgentAndTimeRange_OnlyMatchingEvents()
    {
        await using var h = await CollectorHarness.StartAsync((await Stores.CreateAsync()).Store);
        var sent = await SendKnownSetAsync(h);
        long from = TestEvents.BaseUnixMs + 300, to = TestEvents.BaseUnixMs + 600;

        var onlyB = await ExportAsync(h.Store, new EventQuery(AgentId: AgentB));
        var window = await ExportAsync(h.Store, new EventQuery(FromUnixMs: from, ToUnixMs: to));
        var aAfter = await ExportAsync(h.Store, new EventQuery(AgentId: AgentA, FromUnixMs: from + 5));
        var nobody = await ExportAsync(h.Store, new EventQuery(AgentId: "agent-z"));

        Assert.Equal(21, onlyB.Count);
        Assert.All(onlyB, l => Assert.Equal("agent-b.example", l.GetProperty("hostname").GetString()));
        Assert.Equal("USER_LOGIN", onlyB[^1].GetProperty("records")[0].GetProperty("type").GetString());
        Assert.Equal(sent.Count(x => x.Event.TimeUnixMs >= from && x.Event.TimeUnixMs < to), window.Count);
        Assert.Equal(30, window.Count);
        Assert.All(window, l => Assert.Equal(2ul, l.GetProperty("batch_sequence").GetUInt64()));
        Assert.Equal(sent.Count(x => x.Agent == AgentA && x.Event.TimeUnixMs >= from + 5), aAfter.Count);
        Assert.Empty(nobody);
    }
}

public sealed class SqliteEventExporterTests() : EventExporterTests(new SqliteStoreFactory());

[Collection(PostgresCollection.Name)]
public sealed class PostgresEventExporterTests(PostgresFixture pg) : EventExporterTests(new PostgresStoreFactory(pg.Cluster));
