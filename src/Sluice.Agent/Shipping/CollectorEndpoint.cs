using Polly;
using Polly.CircuitBreaker;

namespace Sluice.Agent.Shipping;

/// <summary>
/// One collector of <see cref="ShipperOptions.CollectorsInOrder"/>: its client, its own circuit breaker and
/// per-attempt timeout (<see cref="ShippingResilience.CreateForCollector"/>), its health as the
/// agent sees it and its counters. The health fields are read and written under the
/// <see cref="CollectorSet"/>'s lock; the counters with interlocked operations.
/// </summary>
internal sealed class CollectorEndpoint
{
    public CollectorEndpoint(int index, string url, IIngestClient client, ResiliencePipeline pipeline, CircuitBreakerStateProvider breaker, DateTimeOffset now)
    {
        Index = index;
        Url = url;
        Client = client;
        Pipeline = pipeline;
        Breaker = breaker;
        Since = now;
    }

    /// <summary>Position in the list: lower is preferred.</summary>
    public int Index { get; }

    public string Url { get; }

    public IIngestClient Client { get; }

    /// <summary>This collector's circuit breaker, then the per-attempt timeout: one attempt goes through it.</summary>
    public ResiliencePipeline Pipeline { get; }

    public CircuitBreakerStateProvider Breaker { get; }

    // Health: under CollectorSet's lock.
    internal bool Down;
    /// <summary>When the collector went up or down (for one never tried: when the shipper was made).</summary>
    internal DateTimeOffset Since;
    /// <summary>While down: when it may be tried again (the probe).</summary>
    internal DateTimeOffset RetryAt;
    /// <summary>Transient failures in a row, each after the previous backoff ran out: the next backoff doubles with it.</summary>
    internal int ConsecutiveFailures;
    internal string? LastError;
    internal DateTimeOffset? LastErrorAt;
    internal DateTimeOffset? LastSuccessAt;

    // Counters.
    internal long Attempts;
    internal long Failures;
    internal long AckedBatches;
    internal long AckedEvents;
    internal long DuplicateAcks;
    internal long Refused;
    internal long Heartbeats;
    internal long HeartbeatFailures;
}
