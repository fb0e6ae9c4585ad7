using Sluice.Protocol.V1;

namespace Sluice.Collector.Storage;

/// <summary>Where the collector keeps batches, events, agents and heartbeats.</summary>
/// <remarks>
/// Contract shared by every store:
/// <list type="bullet">
/// <item>A batch is stored whole or not at all, in one transaction.</item>
/// <item>(agent_id, sequence) is unique, enforced by a unique constraint inside that transaction,
/// so a resent batch, even sent concurrently, is reported as a duplicate and never stored twice.
/// Each duplicate is counted per agent.</item>
/// <item><see cref="StoreBatchAsync"/> returns only when the batch is durable.</item>
/// </list>
/// </remarks>
public interface IEventStore : IAsyncDisposable
{
    /// <summary>Creates the schema if it does not exist. Call once before anything else.</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>Stores a validated batch, or recognises it as a duplicate.</summary>
    Task<StoreOutcome> StoreBatchAsync(EventBatch batch, long receivedUnixMs, CancellationToken cancellationToken);

    Task StoreHeartbeatAsync(AgentHeartbeat heartbeat, long receivedUnixMs, CancellationToken cancellationToken);

    /// <summary>Per agent totals, ordered by agent id.</summary>
    Task<IReadOnlyList<AgentStats>> GetAgentStatsAsync(CancellationToken cancellationToken);

    /// <summary>Stored events in time order (then batch, then position in batch).</summary>
    IAsyncEnumerable<StoredEvent> ReadEventsAsync(EventQuery query, CancellationToken cancellationToken);

    /// <summary>One page of events matching <paramref name="search"/>, newest first (see <see cref="EventSearch"/>).</summary>
    Task<EventPage> SearchEventsAsync(EventSearch search, CancellationToken cancellationToken);
}

/// <summary>Result of storing one batch.</summary>
public readonly record struct StoreOutcome(bool Duplicate, int EventsStored);

/// <summary>One stored event with where it came from.</summary>
public sealed record StoredEvent(string AgentId, string Hostname, ulong Sequence, Event Event);

/// <summary>Filter for reading events: [FromUnixMs, ToUnixMs) on the event time.</summary>
public sealed record EventQuery(string? AgentId = null, long? FromUnixMs = null, long? ToUnixMs = null);

/// <summary>Per-agent totals for <c>sluice-collector stats</c>.</summary>
public sealed record AgentStats
{
    public required string AgentId { get; init; }
    public string Hostname { get; init; } = "";
    public string BootId { get; init; } = "";
    public long Batches { get; init; }
    public long Events { get; init; }
    public long Duplicates { get; init; }
    public long? LastSeenUnixMs { get; init; }
    public long? LastHeartbeatUnixMs { get; init; }
    public ulong MaxSequence { get; init; }
    public string RulesHash { get; init; } = "";
    public LossTotals Loss { get; init; } = new();
}

/// <summary>Sums of the loss counters reported in an agent's batches.</summary>
public sealed record LossTotals
{
    public long KernelLost { get; init; }
    public long SocketOverruns { get; init; }
    public long SerialGaps { get; init; }
    public long SpoolDroppedEvents { get; init; }
    public long SpoolDroppedBatches { get; init; }
    public long ReassemblyEvicted { get; init; }
    public long Truncated { get; init; }
    public long ParseErrors { get; init; }
    public long BacklogWaitTimeActual { get; init; }
    public long Filtered { get; init; }

    /// <summary>Events lost or suspected lost (not counting filtered, which is on purpose).</summary>
    public long TotalLost => KernelLost + SocketOverruns + SerialGaps + SpoolDroppedEvents + ReassemblyEvicted;
}
