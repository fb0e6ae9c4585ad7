using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using Sluice.Collector.Auth;
using Sluice.Collector.Hosting;
using Sluice.Collector.Storage;
using StoreLocation = Sluice.Collector.Storage.StoreLocation;
using Sluice.Collector.Tests.Support;
using static Sluice.Collector.Tests.Support.CollectorHarness;

namespace Sluice.Collector.Tests.Hosting;

public sealed class CollectorServerTests : IDisposable
{
    private readonly SqliteStoreFactory _stores = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-host-").FullName;

    public void Dispose()
    {
        _stores.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Healthz_OverH2c_Ok()
    {
        await using var h = await CollectorHarness.StartAsync((await _stores.CreateAsync()).Store);
        using var http = new HttpClient { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };

        var response = await http.GetAsync(new Uri(h.Server.Address, "/healthz"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("ok\n", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task ApiIngest_AfterAcceptedAndRefusedCalls_CountsEach()
    {
        await using var h = await CollectorHarness.StartAsync((await _stores.CreateAsync()).Store);
        var client = h.Client();
        await client.SendAsync(TestEvents.Batch(AgentA, 1, 9), Bearer(TokenA));
        await client.SendAsync(TestEvents.Batch(AgentA, 1, 9), Bearer(TokenA));
        await Assert.ThrowsAsync<RpcException>(() => client.SendAsync(TestEvents.Batch(AgentA, 2, 1), Bearer("nope-nope-nope-nope")).ResponseAsync);
        await Assert.ThrowsAsync<RpcException>(() => client.SendAsync(TestEvents.Batch(AgentA, 2, 1), Bearer(TokenB)).ResponseAsync);
        await Assert.ThrowsAsync<RpcException>(() => client.SendAsync(TestEvents.Batch(AgentA, 0, 1), Bearer(TokenA)).ResponseAsync);
        using var http = new HttpClient { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };

        using var doc = JsonDocument.Parse(await http.GetStringAsync(new Uri(h.Server.Address, "/api/ingest")));

        var c = doc.RootElement;
        Assert.Equal(1, c.GetProperty("batches_stored").GetInt64());
        Assert.Equal(9, c.GetProperty("events_stored").GetInt64());
        Assert.Equal(1, c.GetProperty("duplicates").GetInt64());
        Assert.Equal(1, c.GetProperty("refused_unauthenticated").GetInt64());
        Assert.Equal(1, c.GetProperty("refused_permission_denied").GetInt64());
        Assert.Equal(1, c.GetProperty("refused_invalid").GetInt64());
    }

    [Fact]
    public async Task StartAsync_WithTls_ServesGrpcAndHealthOverTls()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=sluice-collector-test", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        string certPath = Path.Combine(_dir, "cert.pem"), keyPath = Path.Combine(_dir, "key.pem"), tokens = Path.Combine(_dir, "tokens");
        await File.WriteAllTextAsync(certPath, cert.ExportCertificatePem());
        await File.WriteAllTextAsync(keyPath, key.ExportPkcs8PrivateKeyPem());
        await PrivateFile.WriteAsync(tokens, AgentTokens.HashedLine(AgentA, TokenA));
        var (store, _) = await _stores.CreateAsync();
        await using var server = await CollectorServer.StartAsync(new CollectorOptions
        {
            Listen = "127.0.0.1:0",
            Store = new StoreLocation(StoreKind.Sqlite, "given"),
            TokensFile = tokens,
            TlsCertificatePath = certPath,
            TlsKeyPath = keyPath,
        }, store);
        // Trust exactly this certificate, as an agent configured with it as CA would.
        SocketsHttpHandler Trusting()
        {
            var handler = new SocketsHttpHandler();
            handler.SslOptions.RemoteCertificateValidationCallback = (_, c, _, _) => c is not null && c.GetCertHashString() == cert.GetCertHashString();
            return handler;
        }
        using var channel = GrpcChannel.ForAddress(server.Address, new GrpcChannelOptions { HttpHandler = Trusting() });
        using var http = new HttpClient(Trusting());

        var ack = await new Sluice.Protocol.V1.Ingest.IngestClient(channel).SendAsync(TestEvents.Batch(AgentA, 1, 3), Bearer(TokenA));
        var health = await http.GetStringAsync(new Uri(server.Address, "/healthz"));

        Assert.Equal("https", server.Address.Scheme);
        Assert.Equal(3u, ack.EventsStored);
        Assert.Equal("ok\n", health);
        await store.DisposeAsync();
    }

    [Theory]
    [InlineData(null, false, null, "--tokens FILE is required")]
    [InlineData("t", true, null, "--tokens and --insecure-no-auth exclude each other")]
    [InlineData(null, true, "cert.pem", "--tls-cert and --tls-key go together")]
    public void Validate_InconsistentOptions_ThrowsNamingTheOption(string? tokens, bool anonymous, string? cert, string expected)
    {
        var options = new CollectorOptions
        {
            Listen = "127.0.0.1:0",
            Store = new StoreLocation(StoreKind.Sqlite, "x"),
            TokensFile = tokens,
            AllowAnonymous = anonymous,
            TlsCertificatePath = cert,
        };

        var e = Assert.Throws<ArgumentException>(options.Validate);

        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData("127.0.0.1:7443", "127.0.0.1", 7443)]
    [InlineData("[::1]:0", "::1", 0)]
    [InlineData("*:80", "::", 80)]
    public void ListenEndpointParse_Valid_AddressAndPort(string value, string address, int port)
    {
        var ep = ListenEndpoint.Parse(value);

        Assert.Equal((address, port), (ep.Address!.ToString(), ep.Port));
    }

    [Theory]
    [InlineData("7443", "expected HOST:PORT")]
    [InlineData("127.0.0.1:99999", "port '99999' is not a number from 0 to 65535")]
    [InlineData("collector.example:80", "host 'collector.example' is not an IP address")]
    public void ListenEndpointParse_Invalid_ThrowsWithReason(string value, string expected)
    {
        var e = Assert.Throws<FormatException>(() => ListenEndpoint.Parse(value));

        Assert.Contains(expected, e.Message);
    }
}
