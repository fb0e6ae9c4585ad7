using System.CommandLine;
using Sluice.Collector.Dashboard;
using Sluice.Collector.Hosting;
using Sluice.Collector.Ingest;
using Sluice.Collector.Storage;
using Sluice.Collector.Streaming;

namespace Sluice.Collector.Cli;

/// <summary><c>sluice-collector serve</c>: run the gRPC ingest server and the dashboard until SIGTERM or Ctrl-C.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var listen = new Option<string>("--listen") { Description = "HOST:PORT to listen on (e.g. 0.0.0.0:7443; port 0 picks a free one).", Required = true };
        var store = CliOptions.Store();
        // The store may come from the environment instead, so that a PostgreSQL password in the
        // connection string is not on the command line, where every local user can read it (ps).
        store.Required = false;
        store.Description += $" Default: ${StoreVariable}. Keep a PostgreSQL password off the command line: put it in PGPASSWORD or a passfile (Passfile=, PGPASSFILE), or the whole store in ${StoreVariable}.";
        var tokens = CliOptions.Tokens();
        tokens.Description = $"Token file: one 'AGENT_ID TOKEN' or 'AGENT_ID sha256:HEX' per line, optionally with 'group=GROUP'; read again when it changes. Default: ${CliOptions.TokensVariable}, else {CliOptions.DefaultTokensPath} (unless --insecure-no-auth).";
        var noAuth = new Option<bool>("--insecure-no-auth") { Description = "Accept batches from any agent without a token (development only)." };
        var cert = new Option<string?>("--tls-cert") { Description = "PEM certificate (chain) to serve TLS with." };
        var key = new Option<string?>("--tls-key") { Description = "PEM private key of --tls-cert." };
        var maxMessage = new Option<int?>("--max-message-bytes") { Description = "Largest accepted gRPC message, decompressed (default 16 MiB)." };
        var maxEvents = new Option<int?>("--max-events-per-batch") { Description = "Most events accepted in one batch (default 50000)." };
        var eventAge = new Option<int?>("--max-event-age-days") { Description = "Events older than this many days at receipt are stored under the receive time, flagged (default 400)." };
        var eventAhead = new Option<int?>("--max-event-ahead-hours") { Description = "Events more than this many hours ahead of the receive time are stored under it, flagged (default 24)." };
        var eventDays = new Option<int?>("--max-event-days-per-batch") { Description = "Distinct UTC days one batch may store events in, on PostgreSQL the day partitions it may create (default 4, 2-64)." };
        var maxInFlight = new Option<int?>("--max-in-flight") { Description = "Most ingest calls handled at once, over all connections; one more waits for a slot (--in-flight-wait-ms, --max-waiting), then is refused with RESOURCE_EXHAUSTED and a retry hint (default 256; as many again for heartbeats)." };
        var inFlightWait = new Option<int?>("--in-flight-wait-ms") { Description = "How long a call over --max-in-flight waits for a slot before it is refused, and at most two thirds of the call's deadline (grpc-timeout); 0 refuses at once (default 10000)." };
        var maxWaiting = new Option<int?>("--max-waiting") { Description = "Most calls waiting for a slot at once; one more is refused at once (default 20000: about one per agent)." };
        var paceTarget = new Option<int?>("--pace-target-wait-ms") { Description = "When calls wait for a slot longer than this, acks tell agents how long to hold their next batch (next_send_after_ms), so that the fleet waits in its spools rather than at the collector; 0 turns pacing off (default 1000)." };
        var maxPace = new Option<int?>("--max-pace-ms") { Description = "The longest an ack tells an agent to hold its next batch (default 60000; 1000 to 600000)." };
        var maxStreams = new Option<int?>("--max-streams-per-connection") { Description = "Most HTTP/2 streams one connection may have open at once (default 32)." };
        var noDashboard = new Option<bool>("--no-dashboard") { Description = "Do not serve the dashboard and its JSON API." };
        var dashboardToken = new Option<string?>("--dashboard-token-file") { Description = "File with the dashboard's token (or sha256:HEX); without it the dashboard API answers loopback clients only." };
        var fleetViewMaxAge = new Option<string?>("--fleet-view-max-age") { Description = $"Seconds a fleet view the dashboard API built may be served at once to later requests, with its age, while a newer one is built; 0 serves none (default {FleetViewCache.DefaultMaxAge.TotalSeconds:0}, at most {FleetViewCache.MaxMaxAge.TotalSeconds:0})." };

        // The stream's numbers are read as text and parsed here, so that a bad value is a usage error (exit 2) naming the option.
        var stream = new Option<string?>("--stream") { Description = "Publish every stored event to NATS JetStream: nats://HOST:PORT, several separated by commas (seeds: the client learns the cluster and reconnects across its servers)." };
        var streamName = new Option<string?>("--stream-name") { Description = $"The JetStream stream (default {StreamOptions.DefaultName}); created with subjects {StreamSubjects.Filter} if missing." };
        var streamFormat = new Option<string?>("--stream-format") { Description = "Payload of each message: replay (the export's JSON, default) or ocsf." };
        var streamReplicas = new Option<string?>("--stream-replicas") { Description = "Replicas of the stream when the collector creates it (1-5, default 1); an existing stream keeps its own." };
        var streamBuffer = new Option<string?>("--stream-buffer-events") { Description = $"Events held for publishing while the stream is slow or away (default {StreamOptions.DefaultBufferEvents}, about 4 KB of memory each); beyond it they are dropped from the stream, counted." };
        var streamWait = new Option<string?>("--stream-max-wait") { Description = $"Milliseconds an ingest call may wait for room in that buffer before its events are dropped from the stream (default {StreamOptions.DefaultMaxWait.TotalMilliseconds:0}; 0-60000)." };
        var streamCredentials = new Option<string?>("--stream-credentials") { Description = "NATS credentials: a .creds file, or a file with USER:PASSWORD or a token; mode 0600." };

        var command = new Command("serve", "Receive event batches and heartbeats from agents over gRPC and store them.");
        foreach (var o in new Option[] { listen, store, tokens, noAuth, cert, key, maxMessage, maxEvents, eventAge, eventAhead, eventDays, maxInFlight, inFlightWait, maxWaiting, paceTarget, maxPace, maxStreams, noDashboard, dashboardToken, fleetViewMaxAge,
            stream, streamName, streamFormat, streamReplicas, streamBuffer, streamWait, streamCredentials })
        {
            command.Options.Add(o);
        }
        command.SetAction(async (parse, ct) =>
        {
            CollectorOptions options;
            try
            {
                var limits = new IngestLimits();
                if (parse.GetValue(maxMessage) is int m) limits = limits with { MaxMessageBytes = m };
                if (parse.GetValue(maxEvents) is int e) limits = limits with { MaxEventsPerBatch = e };
                if (parse.GetValue(eventAge) is int age) limits = limits with { MaxEventAge = TimeSpan.FromDays(age) };
                if (parse.GetValue(eventAhead) is int ahead) limits = limits with { MaxClockSkewAhead = TimeSpan.FromHours(ahead) };
                if (parse.GetValue(eventDays) is int days) limits = limits with { MaxEventDaysPerBatch = days };
                options = new CollectorOptions
                {
                    Listen = parse.GetValue(listen)!,
                    Store = StoreLocation.Parse(StoreValue(parse.GetValue(store))),
                    TokensFile = parse.GetValue(tokens) ?? (parse.GetValue(noAuth) ? null : CliOptions.DefaultTokensFile()),
                    AllowAnonymous = parse.GetValue(noAuth),
                    TlsCertificatePath = parse.GetValue(cert),
                    TlsKeyPath = parse.GetValue(key),
                    Limits = limits,
                    MaxInFlight = parse.GetValue(maxInFlight) ?? CollectorOptions.DefaultMaxInFlight,
                    MaxStreamsPerConnection = parse.GetValue(maxStreams) ?? CollectorOptions.DefaultMaxStreamsPerConnection,
                    InFlightWait = parse.GetValue(inFlightWait) is int waitMs ? TimeSpan.FromMilliseconds(waitMs) : CollectorOptions.DefaultInFlightWait,
                    MaxWaiting = parse.GetValue(maxWaiting) ?? CollectorOptions.DefaultMaxWaiting,
                    PaceTargetWait = TimeSpan.FromMilliseconds(parse.GetValue(paceTarget) ?? IngestPacer.DefaultTargetWaitMs),
                    MaxPace = TimeSpan.FromMilliseconds(parse.GetValue(maxPace) ?? IngestPacer.DefaultMaxPaceMs),
                    Dashboard = !parse.GetValue(noDashboard),
                    DashboardTokenFile = parse.GetValue(dashboardToken),
                    FleetViewMaxAge = FleetViewMaxAgeValue(parse, fleetViewMaxAge, noDashboard),
                    Stream = StreamValue(parse, stream, streamName, streamFormat, streamReplicas, streamBuffer, streamWait, streamCredentials),
                };
                options.Validate();
                if (parse.GetValue(store) is not null && options.Store.HasPassword)
                {
                    Console.Error.WriteLine($"sluice-collector serve: warning: --store holds a password, which any local user can read from the command line; put it in PGPASSWORD or a passfile (Passfile=, PGPASSFILE), or the store in ${StoreVariable}");
                }
            }
            catch (Exception e) when (e is FormatException or ArgumentException)
            {
                Console.Error.WriteLine($"sluice-collector serve: {e.Message}");
                return 2;
            }
            try
            {
                await using var server = await CollectorServer.StartAsync(options, cancellationToken: ct);
                Console.Out.WriteLine($"sluice-collector: listening on {server.Address} ({(options.TlsCertificatePath is null ? "h2c and HTTP/1.1" : "TLS")}), store {options.Store}, {(options.AllowAnonymous ? "authentication OFF" : "token authentication")}");
                if (options.Stream is { } streaming)
                {
                    Console.Out.WriteLine($"sluice-collector: event stream {streaming.Name} ({(streaming.Format == StreamFormat.Ocsf ? "ocsf" : "replay")}) on {string.Join(",", streaming.Servers.Select(s => $"{s.Scheme}://{s.Host}:{s.Port}"))}, buffer {streaming.BufferEvents} events");
                }
                if (options.Dashboard)
                {
                    Console.Out.WriteLine($"sluice-collector: dashboard at {server.Address} ({(options.DashboardTokenFile is null ? "API for loopback clients only" : "API needs the dashboard token")})");
                }
                await server.WaitForShutdownAsync(ct);
                return 0;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return 0;
            }
            catch (Exception e) when (e is FormatException or IOException or System.Security.Cryptography.CryptographicException or Npgsql.NpgsqlException or Microsoft.Data.Sqlite.SqliteException or InvalidOperationException)
            {
                Console.Error.WriteLine($"sluice-collector serve: {e.Message}");
                return 1;
            }
        });
        return command;
    }

    private static StreamOptions? StreamValue(ParseResult parse, Option<string?> stream, Option<string?> name, Option<string?> format,
        Option<string?> replicas, Option<string?> buffer, Option<string?> wait, Option<string?> credentials)
    {
        if (parse.GetValue(stream) is not string servers)
        {
            foreach (var o in new[] { name, format, replicas, buffer, wait, credentials })
            {
                if (parse.GetResult(o) is not null)
                {
                    throw new ArgumentException($"{o.Name} needs --stream");
                }
            }
            return null;
        }
        var options = new StreamOptions { Servers = StreamOptions.ParseServers(servers), CredentialsFile = parse.GetValue(credentials) };
        if (parse.GetValue(name) is string n) options = options with { Name = n };
        if (parse.GetValue(format) is string f) options = options with { Format = StreamOptions.ParseFormat(f) };
        if (parse.GetValue(replicas) is string r) options = options with { Replicas = StreamOptions.ParseInt("--stream-replicas", r, 1, 5) };
        if (parse.GetValue(buffer) is string b) options = options with { BufferEvents = StreamOptions.ParseInt("--stream-buffer-events", b, 1, StreamOptions.MaxBufferEvents) };
        if (parse.GetValue(wait) is string w) options = options with { MaxWait = TimeSpan.FromMilliseconds(StreamOptions.ParseInt("--stream-max-wait", w, 0, 60_000)) };
        return options;
    }

    /// <summary>Read as text, as the stream's numbers are, so that a bad value is a usage error naming the option.</summary>
    private static TimeSpan FleetViewMaxAgeValue(ParseResult parse, Option<string?> maxAge, Option<bool> noDashboard)
    {
        if (parse.GetValue(maxAge) is not string value)
        {
            return FleetViewCache.DefaultMaxAge;
        }
        if (parse.GetValue(noDashboard))
        {
            throw new ArgumentException("--fleet-view-max-age and --no-dashboard exclude each other");
        }
        return TimeSpan.FromSeconds(StreamOptions.ParseInt("--fleet-view-max-age", value, 0, (int)FleetViewCache.MaxMaxAge.TotalSeconds));
    }

    /// <summary>The environment variable that gives the store when --store is not on the command line.</summary>
    internal const string StoreVariable = "SLUICE_COLLECTOR_STORE";

    private static string StoreValue(string? option) =>
        option ?? (Environment.GetEnvironmentVariable(StoreVariable) is { Length: > 0 } value
            ? value
            : throw new ArgumentException($"--store is required (or the store in ${StoreVariable})"));
}
