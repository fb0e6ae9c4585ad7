using Sluice.Protocol.V1;

namespace Sluice.Collector.Storage;

/// <summary>Where the collector keeps batches, events, agents and heartbeats.</summary>
/// <remarks>
/// Contract shared by every store:
/// <list type="bullet">
/// <item>A batch is stored whole or not at all, in one transaction.</item>
/// <item>(agent_id, epoch, sequence) is unique, enforced by a unique constraint inside that transaction, and each
/// stored batch keeps its content digest (<see cref="BatchDigest"/>). A resent batch (same key, same digest), even
/// sent concurrently, is reported as a duplicate and never stored twice; each duplicate is counted per agent.
/// Other content under a taken key is reported as a conflict (<see cref="StoreOutcome.ConflictingDigest"/>) and
/// nothing of it is stored: of concurrent sends of different content under one key, exactly one is stored.</item>
/// <item><see cref="StoreBatchAsync"/> returns only when the batch is durable.</item>
/// </list>
/// </remarks>
internal interface IEventStore : IAsyncDisposable
{
    /// <summary>Creates the schema if it does not exist. Call once before anything else.</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>Stores a validated batch, or recognises it as a duplicate.</summary>
    Task<StoreOutcome> StoreBatchAsync(EventBatch batch, long receivedUnixMs, CancellationToken cancellationToken);

    Task StoreHeartbeatAsync(AgentHeartbeat heartbeat, long receivedUnixMs, CancellationToken cancellationToken);

    /// <summary>Stores a heartbeat with the agent's group at the collector (its token line's group=), kept with its policy state.</summary>
    /// <remarks>A store that keeps no groups (a test's) stores it as <see cref="StoreHeartbeatAsync(AgentHeartbeat, long, CancellationToken)"/>.</remarks>
    Task StoreHeartbeatAsync(AgentHeartbeat heartbeat, long receivedUnixMs, string group, CancellationToken cancellationToken) =>
        StoreHeartbeatAsync(heartbeat, receivedUnixMs, cancellationToken);

    /// <summary>
    /// Records a batch refused after authentication (one row per key and status; a resend adds to its count),
    /// so that its events count as loss and its sequence is not taken for a delivery gap.
    /// </summary>
    Task RecordRefusalAsync(BatchRefusal refusal, CancellationToken cancellationToken);

    /// <summary>
    /// Per agent, what the keys of its batches say about delivery (see <see cref="DeliveryFacts"/>), ordered by
    /// agent id. Computed the same way for <c>stats</c>, the report and the dashboard.
    /// </summary>
    Task<IReadOnlyList<DeliveryFacts>> GetDeliveryFactsAsync(DeliveryQuery query, CancellationToken cancellationToken);

    /// <summary>Per agent totals, ordered by agent id.</summary>
    Task<IReadOnlyList<AgentStats>> GetAgentStatsAsync(CancellationToken cancellationToken);

    /// <summary>Stored events in time order (then batch, then position in batch).</summary>
    IAsyncEnumerable<StoredEvent> ReadEventsAsync(EventQuery query, CancellationToken cancellationToken);

    /// <summary>One page of events matching <paramref name="search"/>, newest first (see <see cref="EventSearch"/>).</summary>
    Task<EventPage> SearchEventsAsync(EventSearch search, CancellationToken cancellationToken);
}

/// <summary>Result of storing one batch.</summary>
/// <param name="Duplicate">The key was stored already with the same digest: a resend, acknowledged and not stored again.</param>
/// <param name="EventsStored">Events written by this call.</param>
/// <param name="ConflictingDigest">Set when the key was stored already with another digest (that one): nothing was stored.</param>
internal readonly record struct StoreOutcome(bool Duplicate, int EventsStored, string? ConflictingDigest = null)
{
    public bool Conflict => ConflictingDigest is not null;
}

/// <summary>Which agents and which time a <see cref="IEventStore.GetDeliveryFactsAsync"/> covers.</summary>
/// <param name="FromUnixMs">With <paramref name="ToUnixMs"/>: only gaps, refusals and key changes in [from, to) (received time of the
/// batches around a gap; first refusal time); null for all time.</param>
internal sealed record DeliveryQuery(string? AgentId = null, long? FromUnixMs = null, long? ToUnixMs = null);

/// <summary>What one agent's batch keys say about delivery.</summary>
internal sealed record DeliveryFacts
{
    public required string AgentId { get; init; }

    /// <summary>Distinct epochs the agent's stored batches carry ('' counts as one, for agents that predate epochs).</summary>
    public int Epochs { get; init; }

    /// <summary>The epoch of the agent's most recently received batch.</summary>
    public string LatestEpoch { get; init; } = "";

    /// <summary>
    /// Sequences missing within an epoch: between its epoch_start_sequence and the highest sequence stored,
    /// neither stored nor refused.
    /// </summary>
    public long MissingSequences { get; init; }

    /// <summary>Missing sequences the agent itself accounted for: spool_dropped_batches + spool_corrupt_batches it reported.</summary>
    public long ExplainedByAgent { get; init; }

    /// <summary>Missing sequences nothing accounts for: max(0, missing - explained). Loss of its own kind, in batches.</summary>
    public long DeliveryGaps => Math.Max(0, MissingSequences - ExplainedByAgent);

    /// <summary>The first few missing ranges, for people to look up.</summary>
    public IReadOnlyList<SequenceGap> Gaps { get; init; } = [];

    /// <summary>Distinct refused keys, and the events in them (recorded refusals only).</summary>
    public long RefusedBatches { get; init; }
    public long RefusedEvents { get; init; }

    /// <summary>Of <see cref="RefusedBatches"/>: keys refused as ALREADY_EXISTS (taken by other content).</summary>
    public long Conflicts { get; init; }

    /// <summary>Refusals beyond the per-agent cap of the refusals table: counted, not kept.</summary>
    public long RefusalsUnrecorded { get; init; }

    /// <summary>
    /// Two epochs alternate in the order batches were received (A, B, A): two spools send as one agent. A batch made
    /// (by the agent's clock) before one received earlier is left out: it was held back on the way (in flight when
    /// the epoch changed, or spooled), which one agent does too (see <see cref="DeliverySql"/>).
    /// </summary>
    public bool InterleavedEpochs { get; init; }

    /// <summary>
    /// Two boot ids alternate in heartbeats and batches (A, B, A): two machines send as one agent (a clone). As for
    /// epochs, batches spooled before a reboot and sent after it are left out.
    /// </summary>
    public bool InterleavedBootIds { get; init; }

    /// <summary>True when any of the above is a problem: gaps, refusals or interleaving.</summary>
    public bool AnyProblem => DeliveryGaps > 0 || RefusedBatches > 0 || RefusalsUnrecorded > 0 || InterleavedEpochs || InterleavedBootIds;
}

/// <summary>Sequences [From, To] of one epoch that were never stored nor refused.</summary>
internal readonly record struct SequenceGap(string Epoch, ulong From, ulong To);

/// <summary>A batch the collector refused after authenticating its agent.</summary>
/// <param name="Status">The gRPC status name, e.g. "InvalidArgument", "AlreadyExists".</param>
internal sealed record BatchRefusal(
    string AgentId, string Hostname, string BootId, string Epoch, ulong Sequence, string Status, string Reason,
    int EventCount, string Digest, long ReceivedUnixMs);

/// <summary>One stored event with where it came from.</summary>
internal sealed record StoredEvent(string AgentId, string Hostname, ulong Sequence, Event Event);

/// <summary>Filter for reading events: [FromUnixMs, ToUnixMs) on the event time.</summary>
internal sealed record EventQuery(string? AgentId = null, long? FromUnixMs = null, long? ToUnixMs = null)
{
    /// <summary>Filters on the events' process context (parent exe, container, unit); none by default.</summary>
    public ContextFilter Context { get; init; } = new();
}

/// <summary>Per-agent totals for <c>sluice-collector stats</c>.</summary>
internal sealed record AgentStats
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

    /// <summary>Events stored under their batch's receive time because their own was outside the bounds (<see cref="EventTimeBounds"/>).</summary>
    public long TimeAdjustedEvents { get; init; }
}

/// <summary>Sums of the loss counters reported in an agent's batches.</summary>
internal sealed record LossTotals
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
    public long QuarantinedBatches { get; init; }
    public long QuarantinedEvents { get; init; }
    public long QuarantineTrimmedBatches { get; init; }
    public long QuarantineTrimmedEvents { get; init; }
    public long SpoolCorruptBatches { get; init; }
    public long SpoolCorruptEvents { get; init; }

    /// <summary>
    /// Events lost or suspected lost, each counted once: in the kernel, on the socket, as serial gaps, dropped
    /// by the spool's cap, evicted by reassembly, set aside after a refusal, unreadable in the spool. Not
    /// filtered (on purpose), and not quarantine trims (those events are already in quarantined). Saturates
    /// at <see cref="long.MaxValue"/>: a hostile counter cannot wrap it negative.
    /// </summary>
    public long TotalLost => Saturating.Sum(
        KernelLost, SocketOverruns, SerialGaps, SpoolDroppedEvents, ReassemblyEvicted, QuarantinedEvents, SpoolCorruptEvents);

    /// <summary>Batches lost whole whose events could not all be counted: dropped by the cap, quarantined, unreadable.</summary>
    public long BatchesLost => Saturating.Sum(SpoolDroppedBatches, QuarantinedBatches, SpoolCorruptBatches);

    /// <summary>True when any kind of loss was reported, in events or in batches.</summary>
    public bool AnyLoss => TotalLost > 0 || BatchesLost > 0 || QuarantineTrimmedBatches > 0 || Truncated > 0;
}

/// <summary>Sums of non-negative counters that stop at <see cref="long.MaxValue"/> instead of wrapping.</summary>
internal static class Saturating
{
    public static long Add(long a, long b)
    {
        long s = unchecked(a + b);
        return a >= 0 && b >= 0 && s < 0 ? long.MaxValue : s;
    }

    public static long Sum(params ReadOnlySpan<long> values)
    {
        long total = 0;
        foreach (long v in values)
        {
            total = Add(total, Math.Max(v, 0));
        }
        return total;
    }
}
