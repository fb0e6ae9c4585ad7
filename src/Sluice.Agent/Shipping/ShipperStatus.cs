namespace Sluice.Agent.Shipping;

/// <summary>What the shipper is doing.</summary>
internal enum ShipperState
{
    /// <summary>Not started, or stopped.</summary>
    Stopped,
    /// <summary>Sending, or waiting for batches.</summary>
    Running,
    /// <summary>Transient failures: retrying with backoff.</summary>
    Retrying,
    /// <summary>The collector refused this agent's credentials (Unauthenticated/PermissionDenied). Nothing is shipped; probed every StallProbeInterval.</summary>
    AuthenticationFailed,
    /// <summary>The collector answered in a way the agent does not handle (e.g. Unimplemented). Nothing is shipped; probed every StallProbeInterval.</summary>
    Stalled,
}

/// <summary>A snapshot of the shipper's state and counters, for <c>sluice-agent status</c> and heartbeats.</summary>
internal sealed record ShipperStatus
{
    [System.Text.Json.Serialization.JsonConverter(typeof(System.Text.Json.Serialization.JsonStringEnumConverter<ShipperState>))]
    public ShipperState State { get; init; }
    public long AttemptsFailed { get; init; }
    public long Retries { get; init; }
    public long AckedBatches { get; init; }
    public long AckedEvents { get; init; }
    /// <summary>Acks that said the collector already had the batch (a resend after a lost ack or a restart).</summary>
    public long DuplicateAcks { get; init; }
    /// <summary>Batches the collector refused, set aside in the quarantine.</summary>
    public long QuarantinedBatches { get; init; }
    public long QuarantineDeletedOverCap { get; init; }
    public long QuarantineDeletedOverCapEvents { get; init; }
    /// <summary>Refusals with AlreadyExists: the collector holds other content under the batch's key (each started a new epoch, unless the batch's epoch was already superseded).</summary>
    public long Conflicts { get; init; }
    public int InFlight { get; init; }
    public string? LastError { get; init; }
    public DateTimeOffset? LastErrorAt { get; init; }
    public DateTimeOffset? LastAckAt { get; init; }
    /// <summary>Acks that asked the agent to pace its sends (a nonzero <c>next_send_after_ms</c>), since the shipper started.</summary>
    public long PacedAcks { get; init; }
    /// <summary>The pace the last applied ack asked for, in milliseconds, as asked (<see cref="PaceSeconds"/> is what is honoured); 0 when not paced.</summary>
    public uint PaceMs { get; init; }
    /// <summary>While the collector paces the agent: no Send starts before this time, and one is in flight at a time. Null when not paced.</summary>
    public DateTimeOffset? PacedUntil { get; init; }
    /// <summary>The pace in force, cut to <see cref="Shipper.MaxPace"/>, in seconds; 0 when not paced.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public double PaceSeconds => PacedUntil is null ? 0 : Shipper.Honoured(PaceMs).TotalSeconds;
    /// <summary>Each collector of <see cref="ShipperOptions.Collectors"/>, in order: state, which one is current, counters.</summary>
    public IReadOnlyList<CollectorStatus> Collectors { get; init; } = [];
}
