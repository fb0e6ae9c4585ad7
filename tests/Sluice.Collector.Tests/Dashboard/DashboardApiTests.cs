using System.Net;
using System.Text.Json;
using Grpc.Net.Client;
using Sluice.Collector.Hosting;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;
using static Sluice.Collector.Tests.Dashboard.DashboardData;

namespace Sluice.Collector.Tests.Dashboard;

/// <summary>The dashboard's JSON API against a real collector on 127.0.0.1 over each store, on data of known content.</summary>
public abstract class DashboardApiTests
{
    protected abstract IStoreFactory Stores { get; }

    private static readonly string Range = $"from={From / 1000}&to={To / 1000}";

    /// <summary>A browser's client: HTTP/1.1 on the cleartext port.</summary>
    private static HttpClient Http1() => new() { DefaultRequestVersion = HttpVersion.Version11, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };

    private async Task<CollectorServer> SearchCollectorAsync()
    {
        var (store, _) = await Stores.CreateAsync();
        var server = await StartAsync(store);
        using var channel = GrpcChannel.ForAddress(server.Address);
        var client = new Sluice.Protocol.V1.Ingest.IngestClient(channel);
        foreach (var batch in SearchBatches())
        {
            await client.SendAsync(batch);
        }
        return server;
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> GetAsync(CollectorServer server, string pathAndQuery)
    {
        using var http = Http1();
        using var response = await http.GetAsync(new Uri(server.Address, pathAndQuery));
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return (response.StatusCode, doc.RootElement.Clone());
    }

    private static long[] Serials(JsonElement page) => [.. page.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("serial").GetInt64())];

    [Theory]
    [InlineData("key=priv", new long[] { 6, 2, 1 })]
    [InlineData("key=priv&agent=agent-a", new long[] { 2, 1 })]
    [InlineData("user=1000", new long[] { 6, 3, 1 })]
    [InlineData("user=unset", new long[] { 4 })]
    [InlineData("user=1002", new long[] { 5 })]
    [InlineData("exe=sudo", new long[] { 6, 2, 1 })]
    [InlineData("exe=/usr/bin/sudo", new long[] { 2, 1 })]
    [InlineData("argv=shadow", new long[] { 1 })]
    [InlineData("argv=SHADOW", new long[] { 5 })]
    [InlineData("argv=sudo%20-i", new long[] { 2 })]
    [InlineData("key=priv&user=1000&exe=sudo", new long[] { 6, 1 })]
    [InlineData("key=nothing", new long[0])]
    [InlineData("", new long[] { 6, 5, 4, 3, 2, 1 })]
    public async Task Events_Filter_FindsExactlyTheMatchingEventsNewestFirst(string filter, long[] expected)
    {
        await using var server = await SearchCollectorAsync();
        await using var _ = server.Store;

        var (status, page) = await GetAsync(server, $"/api/events?{Range}&{filter}");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(expected, Serials(page));
        Assert.Equal(JsonValueKind.Null, page.GetProperty("next").ValueKind);
    }

    [Fact]
    public async Task Events_FoundEvent_CarriesItsColumnsAndArgv()
    {
        await using var server = await SearchCollectorAsync();
        await using var _ = server.Store;

        var (_, page) = await GetAsync(server, $"/api/events?{Range}&argv=systemctl");

        var e = Assert.Single(page.GetProperty("events").EnumerateArray());
        Assert.Equal("agent-b", e.GetProperty("agent_id").GetString());
        Assert.Equal("agent-b.example", e.GetProperty("hostname").GetString());
        Assert.Equal(From + 5000, e.GetProperty("time_unix_ms").GetInt64());
        Assert.Equal("2025-11-25T00:00:05.000Z", e.GetProperty("time").GetString());
        Assert.Equal("sudo systemctl restart sshd", e.GetProperty("argv").GetString());
        Assert.Equal("/bin/sudo", e.GetProperty("exe").GetString());
        Assert.Equal("priv", e.GetProperty("key").GetString());
        Assert.Equal(1000, e.GetProperty("auid").GetInt64());
        Assert.Equal(0, e.GetProperty("uid").GetInt64());
        Assert.Equal("execve", e.GetProperty("syscall").GetString());
    }

    [Fact]
    public async Task Events_Pages_WalkEveryEventOnceNewestFirst()
    {
        await using var server = await SearchCollectorAsync();
        await using var _ = server.Store;
        var seen = new List<long[]>();
        string? next = null;

        do
        {
            var (status, page) = await GetAsync(server, $"/api/events?{Range}&limit=2" + (next is null ? "" : "&before=" + next));
            Assert.Equal(HttpStatusCode.OK, status);
            seen.Add(Serials(page));
            next = page.GetProperty("next").GetString();
        }
        while (next is not null);

        Assert.Equal([[6, 5], [4, 3], [2, 1]], seen);
    }

    [Fact]
    public async Task Events_Range_IsFromInclusiveToExclusive()
    {
        await using var server = await SearchCollectorAsync();
        await using var _ = server.Store;

        var (_, page) = await GetAsync(server, $"/api/events?from=2025-11-25T00:00:02Z&to=2025-11-25T00:00:05Z");

        Assert.Equal([4, 3, 2], Serials(page));
    }

    [Fact]
    public async Task Events_NamesResolvedByTheAgent_ShownBesideTheIds()
    {
        await using var server = await SearchCollectorAsync();
        await using var _ = server.Store;

        var (_, page) = await GetAsync(server, $"/api/events?{Range}&user=1000&key=priv&agent=agent-a");

        var e = Assert.Single(page.GetProperty("events").EnumerateArray());
        Assert.Equal(1000, e.GetProperty("auid").GetInt64());
        Assert.Equal("alice", e.GetProperty("auid_name").GetString());
        Assert.Equal(0, e.GetProperty("uid").GetInt64());
        Assert.Equal("root", e.GetProperty("uid_name").GetString());
        Assert.Equal(JsonValueKind.Null, e.GetProperty("euid_name").ValueKind);
        // Without names from the agent, the ids stand alone.
        var (_, other) = await GetAsync(server, $"/api/events?{Range}&user=1001");
        Assert.Equal(JsonValueKind.Null, Assert.Single(other.GetProperty("events").EnumerateArray()).GetProperty("auid_name").ValueKind);
    }

    private async Task<CollectorServer> FleetCollectorAsync()
    {
        var (store, _) = await Stores.CreateAsync();
        var server = await StartAsync(store);
        await SendFleetAsync(server);
        return server;
    }

    private static long Loss(JsonElement loss, string kind) => loss.GetProperty(kind).GetInt64();

    [Fact]
    public async Task Fleet_KnownFleet_EveryHostWithItsEventsLossAndVerdict()
    {
        long sentFrom = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await using var server = await FleetCollectorAsync();
        await using var _ = server.Store;
        long sentTo = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        var (status, fleet) = await GetAsync(server, $"/api/fleet?{Range}");

        Assert.Equal(HttpStatusCode.OK, status);
        var hosts = fleet.GetProperty("hosts").EnumerateArray().ToDictionary(h => h.GetProperty("agent_id").GetString()!);
        Assert.Equal(Agents, hosts.Keys.Order());
        var a = hosts["agent-a"];
        Assert.Equal("agent-a.example", a.GetProperty("hostname").GetString());
        Assert.Equal(EventsPerHourA.Sum(), a.GetProperty("events").GetInt64());
        Assert.Equal(180, a.GetProperty("batches").GetInt64());
        Assert.Equal(KernelLostA, Loss(a.GetProperty("loss"), "kernel_lost"));
        Assert.Equal(SocketOverrunsA, Loss(a.GetProperty("loss"), "socket_overruns"));
        Assert.Equal(SerialGapsA, Loss(a.GetProperty("loss"), "serial_gaps"));
        Assert.Equal(0, Loss(a.GetProperty("loss"), "spool_dropped"));
        Assert.Equal(KernelLostA + SocketOverrunsA + SerialGapsA, Loss(a.GetProperty("loss"), "total"));
        Assert.False(a.GetProperty("complete").GetBoolean());
        Assert.StartsWith("gaps:", a.GetProperty("verdict").GetString());
        Assert.Equal(3 * HourMs, a.GetProperty("connected_ms").GetInt64());

        var b = hosts["agent-b"];
        Assert.Equal(EventsB, b.GetProperty("events").GetInt64());
        Assert.Equal(0, Loss(b.GetProperty("loss"), "total"));
        Assert.False(b.GetProperty("complete").GetBoolean());
        Assert.StartsWith("gaps:", b.GetProperty("verdict").GetString());
        Assert.Equal(HourMs, b.GetProperty("disconnected_ms").GetInt64());

        var c = hosts["agent-c"];
        Assert.Equal(EventsC, c.GetProperty("events").GetInt64());
        Assert.Equal(0, Loss(c.GetProperty("loss"), "total"));
        Assert.True(c.GetProperty("complete").GetBoolean());
        Assert.Equal("continuous, complete", c.GetProperty("verdict").GetString());
        // Last seen is when the collector received the agent's last batch, not the data's time.
        Assert.InRange(c.GetProperty("last_seen_unix_ms").GetInt64(), sentFrom, sentTo);

        var totals = fleet.GetProperty("totals");
        Assert.Equal(3, totals.GetProperty("hosts").GetInt32());
        Assert.Equal(1, totals.GetProperty("complete").GetInt32());
        Assert.Equal(EventsPerHourA.Sum() + EventsB + EventsC, totals.GetProperty("events").GetInt64());
        Assert.Equal(KernelLostA + SocketOverrunsA + SerialGapsA, Loss(totals.GetProperty("loss"), "total"));
    }

    [Fact]
    public async Task FleetAndHost_AgreeWithTheFullReport()
    {
        await using var server = await FleetCollectorAsync();
        await using var _ = server.Store;

        var (_, fleet) = await GetAsync(server, $"/api/fleet?{Range}");
        var (_, report) = await GetAsync(server, $"/api/report?{Range}");

        var full = report.GetProperty("coverage").EnumerateArray().ToList();
        var rows = fleet.GetProperty("hosts").EnumerateArray().ToList();
        Assert.Equal(full.Count, rows.Count);
        foreach (var (row, c) in rows.Zip(full))
        {
            Assert.Equal(c.GetProperty("agent_id").GetString(), row.GetProperty("agent_id").GetString());
            Assert.Equal(c.GetProperty("verdict").GetString(), row.GetProperty("verdict").GetString());
            Assert.Equal(c.GetProperty("events").GetInt64(), row.GetProperty("events").GetInt64());
            Assert.True(JsonElement.DeepEquals(c.GetProperty("loss"), row.GetProperty("loss")), $"{row.GetProperty("agent_id")}: loss differs");
            var (_, host) = await GetAsync(server, $"/api/hosts/{c.GetProperty("agent_id").GetString()}?{Range}");
            Assert.True(JsonElement.DeepEquals(c, host.GetProperty("host")), $"{row.GetProperty("agent_id")}: host coverage differs from the report's");
        }
    }

    [Fact]
    public async Task Host_WithLoss_ChartsPerHourAndIntervals()
    {
        await using var server = await FleetCollectorAsync();
        await using var _ = server.Store;

        var (status, view) = await GetAsync(server, $"/api/hosts/agent-a?{Range}");

        Assert.Equal(HttpStatusCode.OK, status);
        var perHour = view.GetProperty("events_per_hour").EnumerateArray().ToList();
        Assert.Equal([From, From + HourMs, From + 2 * HourMs], perHour.Select(p => p.GetProperty("hour_unix_ms").GetInt64()));
        Assert.Equal(EventsPerHourA, perHour.Select(p => p.GetProperty("events").GetInt64()));
        var loss = view.GetProperty("loss_over_time").EnumerateArray().Select(p => p.GetProperty("loss")).ToList();
        Assert.Equal([0, KernelLostA, SocketOverrunsA + SerialGapsA], loss.Select(l => Loss(l, "total")));
        Assert.Equal([0, KernelLostA, 0], loss.Select(l => Loss(l, "kernel_lost")));
        Assert.Equal([0, 0, SerialGapsA], loss.Select(l => Loss(l, "serial_gaps")));
        var interval = Assert.Single(view.GetProperty("host").GetProperty("intervals").EnumerateArray());
        Assert.True(interval.GetProperty("connected").GetBoolean());
        Assert.Equal(From, interval.GetProperty("start_unix_ms").GetInt64());
        Assert.Equal(To, interval.GetProperty("end_unix_ms").GetInt64());
        var recent = view.GetProperty("recent_events").EnumerateArray().ToList();
        Assert.Equal(20, recent.Count);
        Assert.All(recent, e => Assert.Equal("agent-a", e.GetProperty("agent_id").GetString()));
        // The newest: the last of the 3 events of minute 179, 40 s into it.
        Assert.Equal(From + 179 * MinuteMs + 40_000, recent[0].GetProperty("time_unix_ms").GetInt64());
    }

    [Fact]
    public async Task Host_StoppedForAnHour_DisconnectedIntervalAndEmptyHour()
    {
        await using var server = await FleetCollectorAsync();
        await using var _ = server.Store;

        var (_, view) = await GetAsync(server, $"/api/hosts/agent-b?{Range}");

        var intervals = view.GetProperty("host").GetProperty("intervals").EnumerateArray()
            .Select(i => (i.GetProperty("start_unix_ms").GetInt64(), i.GetProperty("end_unix_ms").GetInt64(), i.GetProperty("connected").GetBoolean()))
            .ToList();
        Assert.Equal([(From, From + HourMs, true), (From + HourMs, From + 2 * HourMs, false), (From + 2 * HourMs, To, true)], intervals);
        Assert.Equal([60L, 0L, 60L], view.GetProperty("events_per_hour").EnumerateArray().Select(p => p.GetProperty("events").GetInt64()));
    }

    [Fact]
    public async Task Host_RulesChanged_EachHashFromWhenItWasFirstReported()
    {
        await using var server = await FleetCollectorAsync();
        await using var _ = server.Store;

        var (_, view) = await GetAsync(server, $"/api/hosts/agent-c?{Range}");

        var host = view.GetProperty("host");
        // A batch reports its rules at its interval's end: minute 0's at From + 1 min, minute 120's at From + 121 min.
        var changes = host.GetProperty("rules_hashes").EnumerateArray()
            .Select(r => (r.GetProperty("at_unix_ms").GetInt64(), r.GetProperty("rules_hash").GetString()))
            .ToList();
        Assert.Equal([(From + MinuteMs, RulesHash1), (From + 121 * MinuteMs, RulesHash2)], changes);
        Assert.Equal(RulesHash2, host.GetProperty("rules_hash").GetString());
    }

    [Fact]
    public async Task Host_Unknown_404NamingIt()
    {
        await using var server = await FleetCollectorAsync();
        await using var _ = server.Store;

        var (status, body) = await GetAsync(server, $"/api/hosts/agent-z?{Range}");

        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Contains("agent-z", body.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Report_OneAgent_IsTheReportBuildersJson()
    {
        await using var server = await FleetCollectorAsync();
        await using var _ = server.Store;

        var (status, report) = await GetAsync(server, $"/api/report?{Range}&agent=agent-c");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("agent-c", report.GetProperty("agent").GetString());
        Assert.Equal(From, report.GetProperty("from_unix_ms").GetInt64());
        var coverage = Assert.Single(report.GetProperty("coverage").EnumerateArray());
        Assert.Equal("continuous, complete", coverage.GetProperty("verdict").GetString());
        Assert.Equal(EventsC, report.GetProperty("events_per_hour").EnumerateArray().Sum(h => h.GetProperty("events").GetInt64()));
        Assert.Equal(EventsC, report.GetProperty("privileged").GetProperty("total").GetInt64());
    }

    [Theory]
    [InlineData("/api/report?agent=agent-z", "agent")]
    [InlineData("/api/fleet?agent=agent-a", "agent")]
    [InlineData("/api/hosts/agent-a?limit=3", "limit")]
    [InlineData("/api/fleet?from=1764028800&to=1764028800", "to")]
    public async Task ReportViews_BadParameter_400NamingIt(string pathAndQuery, string parameter)
    {
        await using var server = await FleetCollectorAsync();
        await using var _ = server.Store;

        var (status, body) = await GetAsync(server, pathAndQuery);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(parameter, body.GetProperty("parameter").GetString());
    }

    [Theory]
    [InlineData("limit=0", "limit")]
    [InlineData("limit=1001", "limit")]
    [InlineData("limit=ten", "limit")]
    [InlineData("user=alice", "user")]
    [InlineData("user=-5", "user")]
    [InlineData("from=yesterday", "from")]
    [InlineData("to=2025-13-45", "to")]
    [InlineData("from=1764032400&to=1764028800", "to")]
    [InlineData("agent=bad%20id", "agent")]
    [InlineData("before=xyz", "before")]
    [InlineData("colour=red", "colour")]
    [InlineData("key=a&key=b", "key")]
    public async Task Events_BadParameter_400NamingIt(string query, string parameter)
    {
        await using var server = await SearchCollectorAsync();
        await using var _ = server.Store;

        var (status, body) = await GetAsync(server, "/api/events?" + query);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(parameter, body.GetProperty("parameter").GetString());
        Assert.StartsWith(parameter + ": ", body.GetProperty("error").GetString());
        Assert.Equal(400, body.GetProperty("status").GetInt32());
    }
}

public sealed class SqliteDashboardApiTests : DashboardApiTests, IDisposable
{
    private readonly SqliteStoreFactory _stores = new();

    protected override IStoreFactory Stores => _stores;

    public void Dispose() => _stores.Dispose();
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresDashboardApiTests(PostgresFixture pg) : DashboardApiTests
{
    protected override IStoreFactory Stores { get; } = new PostgresStoreFactory(pg.Cluster);
}
