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
        Limits.Validate();
        ListenEndpoint.Parse(Listen);
    }
}
