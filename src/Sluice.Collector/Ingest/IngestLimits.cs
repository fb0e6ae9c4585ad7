using Sluice.Collector.Storage;

namespace Sluice.Collector.Ingest;

/// <summary>What the collector accepts in one batch. A batch beyond any limit is refused whole, except event times (see <see cref="EventTimeBounds"/>).</summary>
internal sealed record IngestLimits
{
    /// <summary>Largest gRPC message, after decompression (gRPC's MaxReceiveMessageSize: ResourceExhausted beyond).</summary>
    public int MaxMessageBytes { get; init; } = 16 * 1024 * 1024;

    public int MaxEventsPerBatch { get; init; } = 50_000;

    /// <summary>A 3000-argument execve spans a few dozen EXECVE records; 4096 leaves room for PATH-heavy events.</summary>
    public int MaxRecordsPerEvent { get; init; } = 4096;

    /// <summary>kauditd sends at most 8970 bytes per record (MAX_AUDIT_MESSAGE_LENGTH); a node= prefix adds a little.</summary>
    public int MaxRecordBytes { get; init; } = 16 * 1024;

    public int MaxAgentIdLength { get; init; } = 128;

    public int MaxHostnameLength { get; init; } = 255;

    /// <summary>Events stamped further than this ahead of the receive time are indexed under the receive time, flagged (a broken clock, not a fact to index).</summary>
    public TimeSpan MaxClockSkewAhead { get; init; } = TimeSpan.FromDays(1);

    /// <summary>Events stamped further than this before the receive time are indexed under the receive time, flagged.</summary>
    public TimeSpan MaxEventAge { get; init; } = TimeSpan.FromDays(400);

    /// <summary>Distinct UTC days one batch may index events in (on PostgreSQL, the day partitions it may create).</summary>
    public int MaxEventDaysPerBatch { get; init; } = 4;

    /// <summary>The three limits above, as the store applies them.</summary>
    public EventTimeBounds EventTimeBounds => new()
    {
        MaxAge = MaxEventAge,
        MaxAhead = MaxClockSkewAhead,
        MaxDaysPerBatch = MaxEventDaysPerBatch,
    };

    // Fields that go into the store's indexes and unique constraints (or beside them), bounded so that no
    // value can exceed an index entry's size. Agent ids and hostnames have their own limits above.

    /// <summary><c>rules_hash</c>: in <c>agent_rules</c>' unique (agent, rules_hash). The agent sends "sha256:" and 64 hex digits.</summary>
    public const int MaxRulesHashLength = 128;

    /// <summary><c>boot_id</c>: the kernel's is a 36-character UUID.</summary>
    public const int MaxBootIdLength = 64;

    /// <summary>A heartbeat's <c>version</c>.</summary>
    public const int MaxVersionLength = 128;

    /// <summary>A heartbeat's <c>mode</c> (unicast, multicast).</summary>
    public const int MaxModeLength = 32;

    /// <summary>
    /// A heartbeat's <c>policy_refusal</c>, kept in the agents table and shown by <c>agents list</c>, <c>policy show</c>, the
    /// report and the dashboard. A longer one is stored cut to this length, marked, and counted
    /// (<see cref="IngestCounters.PolicyRefusalsTruncated"/>): the heartbeat's other facts are still worth keeping.
    /// </summary>
    public const int MaxPolicyRefusalLength = 2048;

    public void Validate()
    {
        if (MaxMessageBytes < 1024) throw new ArgumentOutOfRangeException(nameof(MaxMessageBytes), MaxMessageBytes, "must be at least 1024");
        if (MaxEventsPerBatch < 1) throw new ArgumentOutOfRangeException(nameof(MaxEventsPerBatch), MaxEventsPerBatch, "must be at least 1");
        if (MaxRecordsPerEvent < 1) throw new ArgumentOutOfRangeException(nameof(MaxRecordsPerEvent), MaxRecordsPerEvent, "must be at least 1");
        if (MaxRecordBytes < 64) throw new ArgumentOutOfRangeException(nameof(MaxRecordBytes), MaxRecordBytes, "must be at least 64");
        if (MaxEventAge <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(MaxEventAge), MaxEventAge, "must be positive");
        if (MaxClockSkewAhead < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(MaxClockSkewAhead), MaxClockSkewAhead, "must not be negative");
        if (MaxEventDaysPerBatch is < 2 or > EventTimeBounds.MaxDaysPerBatchLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxEventDaysPerBatch), MaxEventDaysPerBatch, $"must be from 2 to {EventTimeBounds.MaxDaysPerBatchLimit}");
        }
    }
}
