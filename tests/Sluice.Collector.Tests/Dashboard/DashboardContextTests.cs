using System.Net;
using System.Text.Json;
using Google.Protobuf;
using Grpc.Net.Client;
using Sluice.Collector.Hosting;
using Sluice.Collector.Tests.Storage;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Tests.Dashboard;

/// <summary>
/// <c>/api/events</c> with process contexts, through a real collector on 127.0.0.1 over each store: the filters
/// <c>parent_exe</c>, <c>container</c>, <c>unit</c>, their refusals, and the context each event carries for the page's
/// ancestry tree, hostile values included (the page sets them as text).
/// </summary>
public abstract class DashboardContextTests : PerStoreTests
{
    private protected DashboardContextTests(IStoreFactory stores) : base(stores)
    {
    }

    private const string Range = "from=1764028799&to=1764028900";

    private static readonly byte[] Hostile = [(byte)'<', (byte)'i', (byte)'m', (byte)'g', (byte)' ', (byte)'s', (byte)'r', (byte)'c', (byte)'=', (byte)'x', (byte)'>', 0xff, (byte)'\n', 0x00, (byte)'"'];

    private async Task<CollectorServer> StartAsync()
    {
        var (store, _) = await Stores.CreateAsync();
        var server = await DashboardData.StartAsync(store);
        var batch = TestEvents.Batch("web-1", 1, 4);
        batch.Events[0].With(Contexts.Ssh());
        batch.Events[1].With(Contexts.CronPartial());
        var hostile = Contexts.Ssh(containerId: "<b>box</b>", runtime: "systemd-nspawn", unit: "evil.service\n<script>");
        hostile.Parent.Exe = ByteString.CopyFrom(Hostile);
        hostile.Ancestry[0].Exe = ByteString.CopyFrom(Hostile);
        hostile.Container.Inherited = true;
        hostile.AncestryTruncated = true;
        batch.Events[2].With(hostile);
        using var channel = GrpcChannel.ForAddress(server.Address);
        var ack = await new Sluice.Protocol.V1.Ingest.IngestClient(channel).SendAsync(batch);
        Assert.False(ack.Duplicate);
        return server;
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> GetAsync(CollectorServer server, string pathAndQuery)
    {
        using var http = new HttpClient { DefaultRequestVersion = HttpVersion.Version11, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using var response = await http.GetAsync(new Uri(server.Address, pathAndQuery));
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return (response.StatusCode, doc.RootElement.Clone());
    }

    private static long[] Serials(JsonElement page) => [.. page.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("serial").GetInt64())];

    [Theory]
    [InlineData("parent_exe=bash", new long[] { 1 })]
    [InlineData("parent_exe=/bin/sh", new long[] { 2 })]
    [InlineData("container=3f4e1c9a2b7d", new long[] { 1 })]
    [InlineData("container=%3Cb%3Ebox%3C%2Fb%3E", new long[] { 3 })]
    [InlineData("unit=cron.service", new long[] { 2 })]
    [InlineData("unit=evil.service%0A%3Cscript%3E", new long[] { 3 })]
    [InlineData("unit=ssh.service&parent_exe=bash&container=3F4E1C9A2B7D8E6F0A1B", new long[] { 1 })]
    public async Task Events_ContextFilters_FindExactlyTheMatchingEvents(string filter, long[] expected)
    {
        await using var server = await StartAsync();
        await using var _ = server.Store;

        var (status, page) = await GetAsync(server, $"/api/events?{Range}&{filter}");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(expected, Serials(page));
    }

    [Theory]
    [InlineData("container=3f4e", "container", "too short")]
    [InlineData("container=a%0Ab", "container", "control characters")]
    [InlineData("unit=a&unit=b", "unit", "given more than once")]
    [InlineData("parent=bash", "parent", "unknown parameter")]
    public async Task Events_BadContextFilter_400NamingTheParameter(string filter, string parameter, string why)
    {
        await using var server = await StartAsync();
        await using var _ = server.Store;

        var (status, body) = await GetAsync(server, $"/api/events?{Range}&{filter}");

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(parameter, body.GetProperty("parameter").GetString());
        Assert.StartsWith(parameter + ": ", body.GetProperty("error").GetString());
        Assert.Contains(why, body.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Events_EachEventCarriesItsContextAsTheReplayFormatWritesIt()
    {
        await using var server = await StartAsync();
        await using var _ = server.Store;

        var (_, page) = await GetAsync(server, $"/api/events?{Range}");

        var events = page.GetProperty("events").EnumerateArray().ToDictionary(e => e.GetProperty("serial").GetInt64());
        Assert.Equal(JsonValueKind.Null, events[4].GetProperty("context").ValueKind);
        var ssh = events[1].GetProperty("context");
        Assert.Equal(Contexts.ReplayJson(TestEvents.Batch("web-1", 1, 1).Events[0].With(Contexts.Ssh())).GetProperty("context").GetRawText(), ssh.GetRawText());
        Assert.Equal(["/usr/bin/bash", "/usr/sbin/sshd", "/usr/lib/systemd/systemd"], ssh.GetProperty("ancestry").EnumerateArray().Select(a => a.GetProperty("exe").GetString()));
        var cron = events[2].GetProperty("context");
        Assert.True(cron.GetProperty("ancestry")[2].GetProperty("unknown").GetBoolean());
        Assert.Equal(3100, cron.GetProperty("ancestry")[2].GetProperty("pid").GetInt64());
        // Hostile bytes arrive as JSON text: markup as characters, the byte 0xff as its escape, NUL escaped.
        var hostile = events[3].GetProperty("context");
        Assert.Equal(Hostile, JsonBytes.Decode(hostile.GetProperty("parent").GetProperty("exe").GetRawText()));
        Assert.Equal(Hostile, JsonBytes.Decode(hostile.GetProperty("ancestry")[0].GetProperty("exe").GetRawText()));
        Assert.Equal("<b>box</b>", hostile.GetProperty("container").GetProperty("id").GetString());
        Assert.True(hostile.GetProperty("container").GetProperty("inherited").GetBoolean());
        Assert.Equal("evil.service\n<script>", hostile.GetProperty("unit").GetString());
        Assert.True(hostile.GetProperty("ancestry_truncated").GetBoolean());
    }

    [Fact]
    public async Task Ingest_RawFormEventWithContext_ExpandedWithItsContextKeptAndSearchable()
    {
        await using var server = await StartAsync();
        await using var _ = server.Store;
        var full = TestEvents.Exec(40, TestEvents.BaseUnixMs + 50, 1);
        var raw = new Event { Serial = full.Serial, Timestamp = full.Timestamp, TimeUnixMs = full.TimeUnixMs, RawOnly = true, Context = Contexts.CronPartial() };
        raw.Records.AddRange(full.Records);
        var batch = TestEvents.Batch("web-1", 2, 0);
        batch.Events.Add(raw);
        using var channel = GrpcChannel.ForAddress(server.Address);
        Assert.False((await new Sluice.Protocol.V1.Ingest.IngestClient(channel).SendAsync(batch)).Duplicate);

        var (_, page) = await GetAsync(server, $"/api/events?{Range}&unit=cron.service&parent_exe=sh");

        Assert.Equal([40, 2], Serials(page));
        var e = page.GetProperty("events")[0];
        Assert.Equal("/usr/bin/sudo", e.GetProperty("exe").GetString());
        Assert.Equal(Contexts.ReplayJson(raw).GetProperty("context").GetRawText(), e.GetProperty("context").GetRawText());
    }

    [Fact]
    public async Task Ingest_ContextOverTheBound_RefusedInvalidAndCounted_CollectorGoesOn()
    {
        await using var server = await StartAsync();
        await using var _ = server.Store;
        using var channel = GrpcChannel.ForAddress(server.Address);
        var client = new Sluice.Protocol.V1.Ingest.IngestClient(channel);
        var huge = TestEvents.Batch("web-1", 2, 3, firstSerial: 10);
        var forged = Contexts.Ssh();
        forged.Parent.Exe = ByteString.CopyFrom(new byte[1 << 20]);
        huge.Events[1].With(forged);
        var deep = TestEvents.Batch("web-1", 3, 1, firstSerial: 20);
        deep.Events[0].With(Contexts.Ssh());
        for (uint i = 0; i < 50_000; i++)
        {
            deep.Events[0].Context.Ancestry.Add(new Ancestor { Pid = i, Unknown = true });
        }

        var refused = await Assert.ThrowsAsync<Grpc.Core.RpcException>(async () => await client.SendAsync(huge));
        var refusedToo = await Assert.ThrowsAsync<Grpc.Core.RpcException>(async () => await client.SendAsync(deep));
        var after = await client.SendAsync(TestEvents.Batch("web-1", 4, 2, firstSerial: 30));

        Assert.Equal(Grpc.Core.StatusCode.InvalidArgument, refused.StatusCode);
        Assert.Contains($"event 1 (serial 11) context is {forged.CalculateSize()} bytes, limit 65536", refused.Status.Detail);
        Assert.Equal(Grpc.Core.StatusCode.InvalidArgument, refusedToo.StatusCode);
        Assert.False(after.Duplicate);
        Assert.Equal(2, server.Counters.RefusedInvalid);
        var (_, page) = await GetAsync(server, "/api/events?from=1764028799&to=1764028900&limit=1000");
        // nothing of the refused batches was stored
        Assert.Equal([1, 2, 3, 4, 30, 31], Serials(page).Order());
    }
}

public sealed class SqliteDashboardContextTests() : DashboardContextTests(new SqliteStoreFactory());

[Collection(PostgresCollection.Name)]
public sealed class PostgresDashboardContextTests(PostgresFixture pg) : DashboardContextTests(new PostgresStoreFactory(pg.Cluster));
