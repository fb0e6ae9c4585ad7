using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Sluice.Collector.Auth;
using Sluice.Collector.Hosting;
using Sluice.Collector.Ingest;
using Sluice.Collector.Storage;
using IngestClient = Sluice.Protocol.V1.Ingest.IngestClient;

namespace Sluice.Collector.Tests.Support;

/// <summary>A real collector on 127.0.0.1 (ephemeral port) with two enrolled agents, and real gRPC clients for it.</summary>
internal sealed class CollectorHarness : IAsyncDisposable
{
    public const string AgentA = "agent-a";
    public const string AgentB = "agent-b";
    public const string TokenA = "tok-a-0123456789abcdef";
    public const string TokenB = "tok-b-fedcba9876543210";

    private readonly string _dir;
    private readonly List<GrpcChannel> _channels = [];

    private CollectorHarness(string dir, CollectorServer server)
    {
        _dir = dir;
        Server = server;
    }

    public CollectorServer Server { get; }
    public IEventStore Store => Server.Store;

    /// <summary>Starts a collector over <paramref name="store"/> (disposed with the harness); agent-a's token is in the file in clear, agent-b's hashed.</summary>
    /// <param name="faults">Faults for the batches received, applied by an <see cref="IngestFaultInterceptor"/>; none by default.</param>
    /// <param name="logging">Extra logging setup, e.g. a provider that captures lines for a test to read.</param>
    public static async Task<CollectorHarness> StartAsync(
        IEventStore store, IngestLimits? limits = null, ScriptedIngestFaults? faults = null, Action<Microsoft.Extensions.Logging.ILoggingBuilder>? logging = null)
    {
        string dir = Directory.CreateTempSubdirectory("sluice-collector-").FullName;
        string tokens = Path.Combine(dir, "tokens");
        await PrivateFile.WriteAsync(tokens, $"# enrolled agents\n{AgentA} {TokenA}\n{AgentTokens.HashedLine(AgentB, TokenB)}\n");
        var server = await CollectorServer.StartAsync(new CollectorOptions
        {
            Listen = "127.0.0.1:0",
            Store = new StoreLocation(StoreKind.Sqlite, "unused: the store is given"),
            TokensFile = tokens,
            Limits = limits ?? new IngestLimits(),
        }, store, logging, faults is null ? null : services => services.AddGrpc(grpc => grpc.Interceptors.Add<IngestFaultInterceptor>(faults)));
        return new CollectorHarness(dir, server);
    }

    public IngestClient Client()
    {
        var channel = GrpcChannel.ForAddress(Server.Address, new GrpcChannelOptions { MaxSendMessageSize = null, MaxReceiveMessageSize = null });
        _channels.Add(channel);
        return new IngestClient(channel);
    }

    public static Metadata Bearer(string? token) => token is null ? [] : new Metadata { { "authorization", "Bearer " + token } };

    public async ValueTask DisposeAsync()
    {
        foreach (var c in _channels)
        {
            c.Dispose();
        }
        await Server.DisposeAsync();
        await Store.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }
}
