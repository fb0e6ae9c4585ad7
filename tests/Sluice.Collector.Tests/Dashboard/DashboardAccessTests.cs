using System.Net;
using System.Net.Http.Headers;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Sluice.Collector.Auth;
using Sluice.Collector.Dashboard;
using Sluice.Collector.Hosting;
using Sluice.Collector.Storage;
using Sluice.Collector.Tests.Support;
using static Sluice.Collector.Tests.Dashboard.DashboardData;

namespace Sluice.Collector.Tests.Dashboard;

/// <summary>Who may read the dashboard API: with a token file, its holders; without, loopback clients only.</summary>
public sealed class DashboardAccessTests : IDisposable
{
    private const string Token = "0123456789abcdef-dashboard";
    private static readonly string Range = $"from={From / 1000}&to={To / 1000}";
    private readonly SqliteStoreFactory _stores = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-dash-access-").FullName;

    public void Dispose()
    {
        _stores.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private static HttpClient Http1() => new() { DefaultRequestVersion = HttpVersion.Version11, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };

    private async Task<CollectorServer> StartWithTokenAsync(string tokenLine)
    {
        string file = Path.Combine(_dir, "dashboard.token");
        await PrivateFile.WriteAsync(file, tokenLine + "\n");
        var (store, _) = await _stores.CreateAsync();
        var server = await StartAsync(store, file);
        await SendFleetAsync(server);
        return server;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Api_TokenConfigured_RefusesWithoutItAndAnswersWithIt(bool fileHoldsDigest)
    {
        string tokenLine = fileHoldsDigest
            ? "sha256:" + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(Token)))
            : Token;
        await using var server = await StartWithTokenAsync(tokenLine);
        await using var _ = server.Store;
        using var http = Http1();
        var url = new Uri(server.Address, $"/api/fleet?{Range}");

        using (var none = await http.GetAsync(url))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
            Assert.Equal("Bearer", none.Headers.WwwAuthenticate.Single().Scheme);
            Assert.Contains("dashboard token required", await none.Content.ReadAsStringAsync());
        }
        using (var wrong = new HttpRequestMessage(HttpMethod.Get, url) { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", Token + "x") } })
        using (var response = await http.SendAsync(wrong))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Contains("wrong dashboard token", await response.Content.ReadAsStringAsync());
        }
        using (var right = new HttpRequestMessage(HttpMethod.Get, url) { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", Token) } })
        using (var response = await http.SendAsync(right))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains("\"agent_id\":\"agent-c\"", await response.Content.ReadAsStringAsync());
        }
        // The page holds no data: it is served without the token, and asks for it.
        using var page = await http.GetAsync(server.Address);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("default-src 'none'", page.Headers.GetValues("Content-Security-Policy").Single());
    }

    [Fact]
    public async Task Api_NoTokenFile_RefusesClientsNotOnLoopback()
    {
        var address = NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));
        Assert.True(address is not null, "this test needs a non-loopback IPv4 address on the machine to connect from");
        var (store, _) = await _stores.CreateAsync();
        await using var server = await CollectorServer.StartAsync(new CollectorOptions
        {
            Listen = $"{address}:0",
            Store = new StoreLocation(StoreKind.Sqlite, "given"),
            AllowAnonymous = true,
        }, store);
        await using var _ = server.Store;
        using var http = Http1();

        using var refused = await http.GetAsync(new Uri(server.Address, $"/api/fleet?{Range}"));

        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Contains("local clients only", await refused.Content.ReadAsStringAsync());
        using var health = await http.GetAsync(new Uri(server.Address, "/healthz"));
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Theory]
    [InlineData("localhost", HttpStatusCode.OK)]
    [InlineData("127.0.0.1", HttpStatusCode.OK)]
    [InlineData("[::1]", HttpStatusCode.OK)]
    [InlineData("evil.example", HttpStatusCode.Forbidden)]
    [InlineData("127.0.0.1.nip.io", HttpStatusCode.Forbidden)]
    public async Task Api_NoTokenFile_LoopbackClientMustAddressTheCollectorAsLocal(string host, HttpStatusCode expected)
    {
        var (store, _) = await _stores.CreateAsync();
        await using var server = await StartAsync(store);
        await using var _ = server.Store;
        using var http = Http1();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(server.Address, $"/api/fleet?{Range}"));
        request.Headers.Host = $"{host}:{server.Address.Port}";

        using var response = await http.SendAsync(request);

        Assert.Equal(expected, response.StatusCode);
        if (expected == HttpStatusCode.Forbidden)
        {
            Assert.Contains($"not '{host}'", await response.Content.ReadAsStringAsync());
        }
    }

    [Theory]
    [InlineData("short", "at least 16 characters")]
    [InlineData("sha256:zz", "is not sha256: followed by hex")]
    [InlineData("sha256:abcd", "64 hex digits")]
    [InlineData("0123456789abcdef\n0123456789abcdef", "found 2")]
    public void Load_BadTokenFile_RefusedNamingTheOption(string content, string reason)
    {
        string file = Path.Combine(_dir, "bad.token");
        PrivateFile.Write(file, content);

        var e = Assert.Throws<FormatException>(() => DashboardAccess.Load(file, null));

        Assert.StartsWith($"--dashboard-token-file {file}: ", e.Message);
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void Load_AnAgentsToken_Refused()
    {
        string file = Path.Combine(_dir, "shared.token");
        PrivateFile.Write(file, Token);
        var agents = AgentTokens.Parse(AgentTokens.HashedLine("agent-a", Token));

        var e = Assert.Throws<FormatException>(() => DashboardAccess.Load(file, agents));

        Assert.Contains("agent 'agent-a''s token", e.Message);
    }
}
