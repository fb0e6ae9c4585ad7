using Sluice.Collector.Dashboard;
using Sluice.Collector.Ingest;
using Sluice.Collector.Storage;

namespace Sluice.Collector.Hosting;

/// <summary>Everything <c>sluice-collector serve</c> is told on its command line.</summary>
internal sealed record CollectorOptions
{
    /// <summary>HOST:PORT; port 0 picks a free port (see <see cref="CollectorServer.Address"/>).</summary>
    public required string Listen { get; init; }

    public required StoreLocation Store { get; init; }

    /// <summary>Token file of enrolled agents; required unless <see cref="AllowAnonymous"/>.</summary>
    public string? TokensFile { get; init; }

    /// <summary>How often the token file is looked at for changes (<see cref="Auth.AgentTokenFile"/>).</summary>
    public TimeSpan TokensCheckInterval { get; init; } = Auth.AgentTokenFile.DefaultCheckInterval;

    /// <summary>How often the running collector reads the store's central policies again (<see cref="Policy.PolicyCache"/>).</summary>
    public TimeSpan PolicyRefreshInterval { get; init; } = Policy.PolicyCache.DefaultRefreshInterval;

    /// <summary>Accept agents without tokens (development only).</summary>
    public bool AllowAnonymous { get; init; }

    public string? TlsCertificatePath { get; init; }
    public string? TlsKeyPath { get; init; }

    public IngestLimits Limits { get; init; } = new();

    /// <summary>Authenticated ingest calls handled at once, over all connections (<c>--max-in-flight</c>); one more is refused at once with RESOURCE_EXHAUSTED and a pushback.</summary>
    /// <remarks>
    /// 256: under a fleet the calls let in are what the store writes together (one PostgreSQL transaction for the batches
    /// queued at once), so the limit sets the size of those groups. 10,000 simulated agents on 2 cores: 654 batches/s
    /// stored and 13,767 calls refused after their wait with 64; 944 batches/s and none refused with 256
    /// (tests/Sluice.Benchmarks/README.md, "Collector under a fleet"). The cost is the memory a token holder can make the
    /// collector hold at once (README, threat model).
    /// </remarks>
    public int MaxInFlight { get; init; } = DefaultMaxInFlight;

    public const int DefaultMaxInFlight = 256;

    /// <summary>HTTP/2 streams one connection may have open at once (<c>--max-streams-per-connection</c>, Kestrel's MaxStreamsPerConnection, advertised to the client in SETTINGS).</summary>
    public int MaxStreamsPerConnection { get; init; } = DefaultMaxStreamsPerConnection;

    public const int DefaultMaxStreamsPerConnection = 32;

    /// <summary>
    /// How long a call over <see cref="MaxInFlight"/> waits for a slot before it is refused (<c>--in-flight-wait-ms</c>; zero:
    /// refused at once), and never more than two thirds of the call's own deadline (<see cref="IngestFrontDoor.WaitFor"/>).
    /// A fleet of agents each with one small call in flight passes the limit whenever the store slows for a moment.
    /// </summary>
    public TimeSpan InFlightWait { get; init; } = DefaultInFlightWait;

    public static readonly TimeSpan DefaultInFlightWait = TimeSpan.FromSeconds(10);

    /// <summary>Calls that may wait for a slot at once (<c>--max-waiting</c>); one more is refused at once. About one per agent of the fleet.</summary>
    public int MaxWaiting { get; init; } = DefaultMaxWaiting;

    public const int DefaultMaxWaiting = 20_000;

    /// <summary>The largest <see cref="PaceTargetWait"/>: a call that may wait a minute for a slot is not paced but stuck.</summary>
    public static readonly TimeSpan MaxPaceTargetWait = TimeSpan.FromMinutes(1);

    /// <summary>
    /// The longest wait for a slot the collector lets calls expect before its acks pace the agents (<c>--pace-target-wait-ms</c>,
    /// <see cref="IngestPacer"/>); zero: no pacing.
    /// </summary>
    public TimeSpan PaceTargetWait { get; init; } = TimeSpan.FromMilliseconds(IngestPacer.DefaultTargetWaitMs);

    /// <summary>The longest pace an ack asks for (<c>--max-pace-ms</c>).</summary>
    public TimeSpan MaxPace { get; init; } = TimeSpan.FromMilliseconds(IngestPacer.DefaultMaxPaceMs);

    /// <summary>How long a call refused for the in-flight limit is told to wait before it retries (<c>grpc-retry-pushback-ms</c>).</summary>
    public TimeSpan InFlightPushback { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Refusals are logged at most once per peer address and reason in this interval, then counted (see <see cref="RefusalLog"/>).</summary>
    public TimeSpan RefusalLogInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Serve the dashboard and its JSON API on the same port (on by default).</summary>
    public bool Dashboard { get; init; } = true;

    /// <summary>File holding the dashboard's bearer token (or its sha256:HEX); without it the dashboard API answers loopback clients only.</summary>
    public string? DashboardTokenFile { get; init; }

    /// <summary>
    /// How old a fleet view the dashboard's API may serve (<c>--fleet-view-max-age</c>, <see cref="FleetViewCache"/>);
    /// zero serves none: every request waits for a build (shared with the others that wait for it).
    /// </summary>
    public TimeSpan FleetViewMaxAge { get; init; } = FleetViewCache.DefaultMaxAge;

    /// <summary>Publish every stored event to this NATS JetStream stream (<c>--stream</c>); null for none.</summary>
    public Streaming.StreamOptions? Stream { get; init; }

    /// <summary>
    /// The name of the meter <c>/metrics</c> exports (<see cref="Metrics.CollectorInstruments.MeterName"/>). Tests
    /// that run several collectors in one process give each its own: OpenTelemetry picks meters by name, process-wide.
    /// </summary>
    internal string MeterName { get; init; } = Metrics.CollectorInstruments.MeterName;

    /// <summary>Checks that the options make sense together; throws with the option's name.</summary>
    public void Validate()
    {
        if (TokensFile is null && !AllowAnonymous)
        {
            throw new ArgumentException("--tokens FILE is required (or --insecure-no-auth to accept any agent, for development)");
        }
        if (TokensFile is not null && AllowAnonymous)
        {
            throw new ArgumentException("--tokens and --insecure-no-auth exclude each other");
        }
        if ((TlsCertificatePath is null) != (TlsKeyPath is null))
        {
            throw new ArgumentException("--tls-cert and --tls-key go together");
        }
        if (DashboardTokenFile is not null && !Dashboard)
        {
            throw new ArgumentException("--dashboard-token-file and --no-dashboard exclude each other");
        }
        if (FleetViewMaxAge < TimeSpan.Zero || FleetViewMaxAge > FleetViewCache.MaxMaxAge)
        {
            throw new ArgumentException($"--fleet-view-max-age {FleetViewMaxAge.TotalSeconds:0}: must be from 0 to {FleetViewCache.MaxMaxAge.TotalSeconds:0} seconds");
        }
        Limits.Validate();
        if (MaxInFlight < 1)
        {
            throw new ArgumentException($"--max-in-flight {MaxInFlight}: must be at least 1");
        }
        if (MaxStreamsPerConnection < 1)
        {
            throw new ArgumentException($"--max-streams-per-connection {MaxStreamsPerConnection}: must be at least 1");
        }
        if (InFlightWait < TimeSpan.Zero || MaxWaiting < 0)
        {
            throw new ArgumentException($"--in-flight-wait-ms {(long)InFlightWait.TotalMilliseconds} and --max-waiting {MaxWaiting}: must not be negative");
        }
        if (PaceTargetWait < TimeSpan.Zero || PaceTargetWait > MaxPaceTargetWait)
        {
            throw new ArgumentException($"--pace-target-wait-ms {(long)PaceTargetWait.TotalMilliseconds}: must be from 0 (no pacing) to {(long)MaxPaceTargetWait.TotalMilliseconds}");
        }
        if (MaxPace < TimeSpan.FromSeconds(1) || MaxPace > TimeSpan.FromMinutes(10))
        {
            throw new ArgumentException($"--max-pace-ms {(long)MaxPace.TotalMilliseconds}: must be from 1000 to 600000");
        }
        if (InFlightPushback <= TimeSpan.Zero || RefusalLogInterval <= TimeSpan.Zero)
        {
            throw new ArgumentException("the in-flight pushback and the refusal log interval must be positive");
        }
        ListenEndpoint.Parse(Listen);
        Stream?.Validate();
    }
}
