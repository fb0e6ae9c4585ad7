using System.Net;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using Sluice.Collector.Cli;
using Sluice.Collector.Hosting;
using Sluice.Collector.Storage;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;
using IngestClient = Sluice.Protocol.V1.Ingest.IngestClient;

namespace Sluice.Collector.Tests.Fleet;

/// <summary>
/// A real collector on 127.0.0.1 whose token file starts empty and is changed through <c>agents add</c>/<c>revoke</c>
/// while it runs, over a store the CLI verbs open too (by its --store value), with real gRPC clients.
/// </summary>
internal sealed class FleetCollector : IAsyncDisposable
{
    private readonly List<GrpcChannel> _channels = [];

    private FleetCollector(string dir, string tokens, CollectorServer server, string storeSpec, LogLines log)
    {
        Dir = dir;
        TokensPath = tokens;
        Server = server;
        StoreSpec = storeSpec;
        Log = log;
    }

    public string Dir { get; }
    public string TokensPath { get; }
    public CollectorServer Server { get; }
    public string StoreSpec { get; }
    public LogLines Log { get; }

    /// <param name="tokensCheck">How often the collector looks at its token file; the production default unless given.</param>
    public static async Task<FleetCollector> StartAsync(IStoreFactory stores, TimeSpan? tokensCheck = null, TimeSpan? policyRefresh = null)
    {
        string dir = Directory.CreateTempSubdirectory("sluice-fleet-").FullName;
        string tokens = Path.Combine(dir, "collector.tokens");
        PrivateFile.Write(tokens, "# enrolled agents (sluice-collector agents add)\n");
        var (store, spec) = await stores.CreateAsync();
        var log = new LogLines();
        var server = await CollectorServer.StartAsync(new CollectorOptions
        {
            Listen = "127.0.0.1:0",
            Store = StoreLocation.Parse(spec),
            TokensFile = tokens,
            TokensCheckInterval = tokensCheck ?? Sluice.Collector.Auth.AgentTokenFile.DefaultCheckInterval,
            PolicyRefreshInterval = policyRefresh ?? TimeSpan.FromMilliseconds(200),
        }, store, log.AddTo);
        return new FleetCollector(dir, tokens, server, spec, log);
    }

    /// <summary><c>agents add NAME --group G --tokens FILE</c>; returns the token it printed.</summary>
    public string Add(string name, string group = "default")
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int rc = AgentsCommand.RunAdd(TokensPath, name, group, stdout, stderr);
        Assert.True(rc == 0, stderr.ToString());
        string[] lines = stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return Assert.Single(lines);
    }

    public IngestClient Client()
    {
        var channel = GrpcChannel.ForAddress(Server.Address);
        _channels.Add(channel);
        return new IngestClient(channel);
    }

    public static Metadata Bearer(string token) => new() { { "authorization", "Bearer " + token } };

    public const string Epoch = "0123456789abcdef0123456789abcdef";

    public static AgentHeartbeat Beat(string agent, string policyHash = "", string refusedHash = "", string refusal = "", string version = "0.1.0") => new()
    {
        AgentId = agent, Hostname = agent + ".example", BootId = "boot-" + agent, Version = version, Mode = "unicast",
        TimeUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), StartedUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 60_000,
        RulesHash = "sha256:" + new string('a', 64), Epoch = Epoch, LossTotals = new LossCounters(),
        PolicyHash = policyHash, PolicyRefusedHash = refusedHash, PolicyRefusal = refusal,
    };

    /// <summary>Calls <paramref name="call"/> until <paramref name="done"/> holds of its result, for at most 20 seconds (the collector looks at files and the store every second or less).</summary>
    public static async Task<T> EventuallyAsync<T>(Func<Task<T>> call, Func<T, bool> done, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        T last = await call();
        while (!done(last))
        {
            Assert.True(DateTime.UtcNow < deadline, $"not within 20 s: {what}; last: {last}");
            await Task.Delay(100);
            last = await call();
        }
        return last;
    }

    /// <summary>The status of a heartbeat call: OK, or the RPC status code it was refused with.</summary>
    public async Task<StatusCode> HeartbeatStatusAsync(IngestClient client, string agent, string token)
    {
        try
        {
            await client.HeartbeatAsync(Beat(agent), Bearer(token));
            return StatusCode.OK;
        }
        catch (RpcException e)
        {
            return e.StatusCode;
        }
    }

    /// <summary>GET a dashboard API path over HTTP/1.1 from loopback (no dashboard token needed), as JSON.</summary>
    public async Task<JsonElement> ApiAsync(string pathAndQuery)
    {
        using var http = new HttpClient { DefaultRequestVersion = HttpVersion.Version11, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using var response = await http.GetAsync(new Uri(Server.Address, pathAndQuery));
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{pathAndQuery}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var c in _channels)
        {
            c.Dispose();
        }
        await Server.DisposeAsync();
        await Server.Store.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(Dir, recursive: true);
    }
}
