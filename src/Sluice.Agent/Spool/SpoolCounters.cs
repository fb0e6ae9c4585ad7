namespace Sluice.Agent.Spool;

/// <summary>A consistent snapshot of the spool's depth and lifetime counters (since this process opened it).</summary>
internal readonly record struct SpoolCounters
{
    public SpoolCounters()
    {
    }

    /// <summary>Bytes of all segment files on disk.</summary>
    public long DepthBytes { get; init; }
    /// <summary>Batches on disk that are neither acknowledged nor dropped.</summary>
    public long DepthBatches { get; init; }
    public long DepthEvents { get; init; }
    public long Segments { get; init; }
    public long WrittenBatches { get; init; }
    public long WrittenEvents { get; init; }
    public long WrittenBytes { get; init; }
    public long AckedBatches { get; init; }
    public long AckedEvents { get; init; }
    /// <summary>Batches dropped by the size cap since open (reported as spool_dropped_batches).</summary>
    public long DroppedBatches { get; init; }
    /// <summary>Events in <see cref="DroppedBatches"/>.</summary>
    public long DroppedEvents { get; init; }
    /// <summary>Batches unreadable on disk (checksum, framing, or missing between the ones that are), since open (spool_corrupt_batches).</summary>
    public long CorruptBatches { get; init; }
    /// <summary>Events of <see cref="CorruptBatches"/> whose entry header still told their count (spool_corrupt_events); the others' are unknown.</summary>
    public long CorruptEvents { get; init; }
    /// <summary>Batches the collector refused and the shipper set aside in quarantine, since open (quarantined_batches).</summary>
    public long QuarantinedBatches { get; init; }
    public long QuarantinedEvents { get; init; }
    /// <summary>Quarantined batches the quarantine's cap deleted, since open (quarantine_trimmed_batches; their events are already in the quarantined counts).</summary>
    public long QuarantineTrimmedBatches { get; init; }
    public long QuarantineTrimmedEvents { get; init; }
    /// <summary>Delivery loss recorded but not yet in a batch written to the spool: it goes out with the next one.</summary>
    public DeliveryLoss UnreportedLoss { get; init; } = DeliveryLoss.None;
    /// <summary>The epoch batches appended now carry (32 hex digits).</summary>
    public string Epoch { get; init; } = "";
    public ulong EpochStartSequence { get; init; }
    /// <summary>Epochs this process started (a new spool, a lost state, or an ALREADY_EXISTS from the collector).</summary>
    public long EpochsStarted { get; init; }
    /// <summary>Batches found intact on disk when the spool was opened.</summary>
    public long RecoveredBatches { get; init; }
    /// <summary>Bytes cut from torn or corrupt segment tails when the spool was opened.</summary>
    public long RecoveryCutBytes { get; init; }
    public long Fsyncs { get; init; }
    public long WriteErrors { get; init; }
    public ulong NextSequence { get; init; }
    public ulong AckedThrough { get; init; }
    public ulong DroppedThrough { get; init; }
}
