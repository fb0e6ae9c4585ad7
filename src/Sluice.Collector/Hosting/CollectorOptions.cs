using Sluice.Collector.Ingest;
using Sluice.Collector.Storage;

namespace Sluice.Collector.Hosting;

/// <summary>Everything <c>sluice-collector serve</c> is told on its command line.</summary>
public sealed record CollectorOptions
{
    /// <summary>HOST:PORT; port 0 picks a free port (see <see cref="CollectorServer.Address"/>).</summary>
    public required string Listen { get; init; }

    public required StoreLocation Store { get; init; }

    /// <summary>Token file of enrolled agents; required unless <see cref="AllowAnonymous"/>.</summary>
    public string? TokensFile { get; init; }

    /// <summary>Accept agents without tokens (development only).</summary>
    public bool AllowAnonymous { get; init; }

    public string? TlsCertificatePath { get; init; }
    public string? TlsKeyPath { get; init; }

    public IngestLimits Limits { get; init; } = new();

    /// <summary>Serve the dashboard and its JSON API on the same port (on by default).</summary>
    public bool Dashboard { get; init; } = true;

    /// <summary>File holding the dashboard's bearer token (or its sha256:HEX); without it the dashboard API answers loopback clients only.</summary>
    public string? DashboardTokenFile { get; init; }

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
        Limits.Validate();
        ListenEndpoint.Parse(Listen);
    }
}
