namespace Sluice.Agent.Spool;

/// <summary>A consistent snapshot of the spool's depth and lifetime counters (since this process opened it).</summary>
public readonly record struct SpoolCounters
{
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
    /// <summary>Batches dropped by the size cap, or unreadable on disk, since open.</summary>
    public long DroppedBatches { get; init; }
    /// <summary>Events in <see cref="DroppedBatches"/> (events of entries lost to corruption cannot be known and are not in here).</summary>
    public long DroppedEvents { get; init; }
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
