using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Sluice.Collector.Auth;
using Sluice.Collector.Dashboard;
using Sluice.Collector.Ingest;
using Sluice.Collector.Metrics;
using Sluice.Collector.Storage;
using Sluice.Collector.Streaming;

namespace Sluice.Collector.Hosting;

/// <summary>A running collector: Kestrel with the gRPC ingest service, /healthz, /api/ingest, the dashboard and /metrics, over one store.</summary>
/// <remarks>
/// One port serves gRPC and the dashboard. With TLS, ALPN chooses HTTP/2 or HTTP/1.1. Without TLS,
/// gRPC clients speak h2c with prior knowledge and browsers HTTP/1.1, and Kestrel's
/// Http1AndHttp2 cannot tell them apart on a cleartext port: see <see cref="CleartextProtocols"/>.
/// </remarks>
internal sealed class CollectorServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly bool _ownsStore;
    private readonly StreamPublisher? _stream;

    private CollectorServer(WebApplication app, IEventStore store, bool ownsStore, Uri address, StreamPublisher? stream)
    {
        _app = app;
        _stream = stream;
        Store = store;
        _ownsStore = ownsStore;
        Address = address;
    }

    /// <summary>Connections the kernel queues for accept (listen(2)'s backlog; net.core.somaxconn caps it).</summary>
    internal const int ListenBacklog = 8192;

    /// <summary>The address the server listens on, with the real port when 0 was asked.</summary>
    public Uri Address { get; }

    public IEventStore Store { get; }

    public IngestCounters Counters => _app.Services.GetRequiredService<IngestCounters>();

    /// <summary>The event stream's counters; null without <see cref="CollectorOptions.Stream"/>.</summary>
    public StreamCounters? StreamCounters => _app.Services.GetService<StreamCounters>();

    /// <summary>The collector's services, for tests that look at one (the token file's reload counts, the policy cache).</summary>
    internal IServiceProvider Services => _app.Services;

    /// <summary>Opens the store (unless one is given), binds and starts serving.</summary>
    /// <param name="store">A store to serve instead of <see cref="CollectorOptions.Store"/>; it keeps the event time bounds it
    /// was made with (<see cref="EventTimeBounds"/>), whatever <see cref="CollectorOptions.Limits"/> says.</param>
    /// <param name="services">Runs after the collector has registered its services, so it may add to them or replace
    /// them: gRPC interceptors, for instance (<c>services.AddGrpc(o => o.Interceptors.Add&lt;T&gt;())</c>).</param>
    public static async Task<CollectorServer> StartAsync(
        CollectorOptions options,
        IEventStore? store = null,
        Action<ILoggingBuilder>? logging = null,
        Action<IServiceCollection>? services = null,
        CancellationToken cancellationToken = default)
    {
        options.Validate();
        var tokenFile = options.TokensFile is null ? null : AgentTokenFile.Load(options.TokensFile, checkInterval: options.TokensCheckInterval);
        var tokens = tokenFile?.Snapshot;
        var dashboardAccess = !options.Dashboard ? null
            : options.DashboardTokenFile is null ? DashboardAccess.LocalOnly
            : DashboardAccess.Load(options.DashboardTokenFile, tokens);
        // Read before anything starts: a credentials file open to others refuses the start, as the token file does.
        var streamAuth = options.Stream?.CredentialsFile is string credentials ? StreamCredentials.Load(credentials) : NATS.Client.Core.NatsAuthOpts.Default;
        var endpoint = ListenEndpoint.Parse(options.Listen);
        X509Certificate2? certificate = options.TlsCertificatePath is null
            ? null
            : X509Certificate2.CreateFromPemFile(options.TlsCertificatePath, options.TlsKeyPath);

        bool ownsStore = store is null;
        store ??= await options.Store.OpenAsync(mustExist: false, options.Limits.EventTimeBounds, cancellationToken);
        try
        {
            // No configuration reload: it watches the working directory and all below it, so with
            // the store (or PostgreSQL's data) under it every write woke a file watcher thread
            // (measured: 6 % of the collector's CPU under ingest load).
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
            {
                Args = ["--hostBuilder:reloadConfigOnChange=false"],
            });
            // One line per request at 100 calls/s is noise, and costs: ASP.NET Core and gRPC log warnings and up.
            builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
            builder.Logging.AddFilter("Grpc", LogLevel.Warning);
            // The NATS client logs each reconnect attempt as a warning: through an outage, one line every
            // second or two. The publisher logs the connection's changes and the drops itself, throttled.
            builder.Logging.AddFilter("NATS", LogLevel.Error);
            if (logging is not null)
            {
                logging(builder.Logging);
            }
            builder.WebHost.ConfigureKestrel(kestrel =>
            {
                kestrel.Limits.MaxRequestBodySize = null; // gRPC's own limit applies, with a gRPC status
                // Per connection: a client learns this in SETTINGS and waits (or opens another
                // connection) before it opens more streams; the global bound is IngestFrontDoor's.
                kestrel.Limits.Http2.MaxStreamsPerConnection = options.MaxStreamsPerConnection;
                ListenOptions? http1 = null;
                if (certificate is null && options.Dashboard)
                {
                    kestrel.Listen(new Http1PipelineEndPoint(), listen => http1 = listen);
                    http1!.Protocols = HttpProtocols.Http1;
                }
                void Configure(ListenOptions listen)
                {
                    if (certificate is null)
                    {
                        listen.Protocols = HttpProtocols.Http2;
                        if (http1 is not null)
                        {
                            CleartextProtocols.UseHttp1Fallback(listen, http1);
                        }
                    }
                    else
                    {
                        listen.Protocols = HttpProtocols.Http1AndHttp2;
                        listen.UseHttps(certificate);
                    }
                }
                if (endpoint.Address is null)
                {
                    kestrel.ListenLocalhost(endpoint.Port, Configure);
                }
                else
                {
                    kestrel.Listen(endpoint.Address, endpoint.Port, Configure);
                }
            });
            builder.Services.AddGrpc(grpc =>
            {
                // Bounds a message's length on the wire and, for a compressed one, once inflated: grpc-dotnet
                // (checked on Grpc.AspNetCore.Server 2.85.0, PipeExtensions.TryDecompressMessage ->
                // CommonGrpcProtocolHelpers.TryReadCompressedMessage) inflates through a pooled buffer
                // and stops with RESOURCE_EXHAUSTED past this size; it never inflates the whole message
                // first. Its source as of 2.83 did not (it inflated into an unbounded MemoryStream):
                // FrontDoorLimitsTests sends a gzip bomb to hold any upgrade or downgrade to this.
                grpc.MaxReceiveMessageSize = options.Limits.MaxMessageBytes;
                grpc.EnableDetailedErrors = false;
            });
            builder.Services.AddSingleton<Microsoft.AspNetCore.Connections.IConnectionListenerFactory, PipelineOnlyListenerFactory>();
            // A fleet connects at once when a collector starts or comes back: with Kestrel's default backlog (512) the
            // kernel dropped SYNs past it, and agents waited out retransmits (1 s, 3 s, 7 s) until their connect
            // timeout (the fleet simulator at 10,000 agents: thousands of UNAVAILABLE). The kernel caps it at somaxconn.
            builder.Services.Configure<Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets.SocketTransportOptions>(sockets => sockets.Backlog = ListenBacklog);
            builder.Services.AddSingleton(store);
            builder.Services.AddSingleton(sp =>
            {
                if (tokenFile is null)
                {
                    return new AgentAuthenticator((AgentTokens?)null);
                }
                tokenFile.Logger = sp.GetRequiredService<ILoggerFactory>().CreateLogger<AgentTokenFile>();
                return new AgentAuthenticator(tokenFile);
            });
            builder.Services.AddSingleton(TimeProvider.System);
            builder.Services.AddSingleton(new BatchValidator(options.Limits));
            builder.Services.AddSingleton<IngestCounters>();
            builder.Services.AddSingleton(sp => new IngestPacer(sp.GetRequiredService<TimeProvider>(), options.PaceTargetWait, options.MaxPace));
            builder.Services.AddSingleton(sp => new RefusalLog(sp.GetRequiredService<ILogger<RefusalLog>>(), sp.GetRequiredService<TimeProvider>(), options.RefusalLogInterval));
            builder.Services.AddSingleton(sp => new Policy.PolicyCache(Policy.PolicyStore.Of(store), sp.GetRequiredService<TimeProvider>(), options.PolicyRefreshInterval,
                sp.GetRequiredService<ILoggerFactory>().CreateLogger<Policy.PolicyCache>()));
            builder.Services.AddSingleton(sp => new LogThrottle(sp.GetRequiredService<TimeProvider>(), TimeSpan.FromMinutes(1)));
            if (options.Stream is { } streamOptions)
            {
                builder.Services.AddSingleton<StreamCounters>();
                builder.Services.AddSingleton(sp => new StreamPublisher(streamOptions, streamAuth, sp.GetRequiredService<StreamCounters>(),
                    sp.GetRequiredService<ILoggerFactory>(), sp.GetRequiredService<TimeProvider>()));
                builder.Services.AddSingleton<IStreamOutlet>(sp => sp.GetRequiredService<StreamPublisher>());
            }
            else
            {
                builder.Services.AddSingleton<IStreamOutlet>(NoStream.Instance);
            }
            if (dashboardAccess is not null)
            {
                builder.Services.AddCollectorMetrics(options.MeterName);
                builder.Services.AddSingleton(sp => new Dashboard.FleetViewCache(store, sp.GetRequiredService<TimeProvider>(), options.FleetViewMaxAge, sp.GetRequiredService<ILogger<Dashboard.FleetViewCache>>()));
            }
            services?.Invoke(builder.Services);

            var app = builder.Build();
            // Before the gRPC endpoint runs, so before it reads the body. Routing has run already
            // (WebApplication adds it first), so the front door sees which endpoint was chosen.
            var frontDoor = new IngestFrontDoor(
                app.Services.GetRequiredService<AgentAuthenticator>(),
                app.Services.GetRequiredService<IngestCounters>(),
                app.Services.GetRequiredService<RefusalLog>(),
                options.MaxInFlight,
                options.InFlightPushback,
                options.InFlightWait,
                options.MaxWaiting,
                app.Services.GetRequiredService<IngestPacer>());
            app.Use(frontDoor.InvokeAsync);
            app.MapGrpcService<IngestService>();
            app.MapGet("/healthz", () => Results.Text("ok\n"));
            var streamCounters = app.Services.GetService<StreamCounters>();
            app.MapGet("/api/ingest", (IngestCounters c, AgentAuthenticator a, IngestPacer p) => Results.Text(CountersJson(c, a, p, streamCounters), "application/json"));
            if (dashboardAccess is not null)
            {
                app.MapDashboard(dashboardAccess);
                app.MapCollectorMetrics(dashboardAccess, options.MeterName);
            }
            // Started before the server takes calls, so that the first stored batch finds the buffer; the
            // publisher connects and makes sure of the stream in the background, and ingest never waits for that.
            var stream = app.Services.GetService<StreamPublisher>();
            stream?.Start();
            try
            {
                await app.StartAsync(cancellationToken);
            }
            catch
            {
                if (stream is not null)
                {
                    await stream.DisposeAsync();
                }
                throw;
            }

            var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses
                .First(a => a.StartsWith("http", StringComparison.Ordinal) && !a.Contains(new Http1PipelineEndPoint().ToString(), StringComparison.Ordinal));
            var address = new Uri(bound.Replace("[::]", "localhost", StringComparison.Ordinal).Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal));
            return new CollectorServer(app, store, ownsStore, address, stream);
        }
        catch
        {
            if (ownsStore)
            {
                await store.DisposeAsync();
            }
            throw;
        }
    }

    /// <summary>Runs until the host is asked to stop (SIGTERM, Ctrl-C).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => _app.WaitForShutdownAsync(cancellationToken);

    private static string CountersJson(IngestCounters c, AgentAuthenticator a, IngestPacer p, StreamCounters? s)
    {
        var counters = IngestCountersMap(c, a);
        p.Update();
        counters["paced_acks"] = p.PacedAcks;
        counters["pace_ms"] = (long)Math.Round(p.PaceSeconds * 1000);
        counters["expected_wait_ms"] = (long)Math.Round(p.ExpectedWaitSeconds * 1000);
        counters["paced_agents_held"] = p.Held;
        if (s is not null)
        {
            counters["stream_connected"] = s.Connected ? 1 : 0;
            counters["stream_enqueued"] = s.Enqueued;
            counters["stream_published"] = s.Published;
            counters["stream_duplicates"] = s.Duplicates;
            counters["stream_buffered"] = s.Buffered;
            counters["stream_dropped_events"] = s.Dropped;
            counters["stream_dropped_buffer_full"] = s.DroppedBufferFull;
            counters["stream_dropped_shutdown"] = s.DroppedShutdown;
            counters["stream_dropped_unwritable"] = s.DroppedUnwritable;
            counters["stream_publish_failures"] = s.PublishFailures;
        }
        return JsonSerializer.Serialize(counters);
    }

    private static Dictionary<string, long> IngestCountersMap(IngestCounters c, AgentAuthenticator a) => new()
    {
        ["batches_stored"] = c.BatchesStored,
        ["events_stored"] = c.EventsStored,
        ["duplicates"] = c.Duplicates,
        ["heartbeats"] = c.Heartbeats,
        ["refused_unauthenticated"] = c.RefusedUnauthenticated,
        ["refused_permission_denied"] = c.RefusedPermission,
        ["refused_invalid"] = c.RefusedInvalid,
        ["refused_already_exists"] = c.RefusedAlreadyExists,
        ["store_failures"] = c.StoreFailures,
        ["refused_by_store"] = c.RefusedByStore,
        ["refused_over_limit"] = c.RefusedOverLimit,
        ["waited_for_slot"] = c.WaitedForSlot,
        ["caller_gone"] = c.CallerGone,
        ["refused_too_large"] = c.RefusedTooLarge,
        ["events_interpreted"] = c.EventsInterpreted,
        ["interpretation_failures"] = c.InterpretationFailures,
        ["policies_sent"] = c.PoliciesSent,
        ["policy_refusals_truncated"] = c.PolicyRefusalsTruncated,
        ["token_file_reloads"] = a.File?.Reloads ?? 0,
        ["token_file_reload_failures"] = a.File?.ReloadFailures ?? 0,
    };

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        // After the server stopped taking calls: what they stored is in the buffer, and gets its bounded flush.
        if (_stream is not null)
        {
            await _stream.DisposeAsync();
        }
        await _app.DisposeAsync();
        if (_ownsStore)
        {
            await Store.DisposeAsync();
        }
    }
}
