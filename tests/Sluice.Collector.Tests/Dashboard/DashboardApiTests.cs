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
        Assert.Equal("agent-b", e.GetProperty("agentId").GetString());
        Assert.Equal("agent-b.example", e.GetProperty("hostname").GetString());
        Assert.Equal(From + 5000, e.GetProperty("timeUnixMs").GetInt64());
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
