using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sluice.Agent.Shipping;

namespace Sluice.Agent.Spool;

/// <summary>
/// The durable queue between the pipeline and the shipper: append-only segment files of
/// checksummed EventBatch entries, in sequence order, with a size cap that drops the oldest
/// segments (counted, and reported to the collector in the next batch's loss counters).
/// One writer (<see cref="Append(CutBatch)"/>) and one reader (<see cref="TryRead"/>, <see cref="Acknowledge"/>)
/// may run on different threads.
/// </summary>
/// <remarks>
/// <para>
/// Files in the directory (0700): <c>NNNNNNNNNNNNNNNNNNNN.seg</c> (20-digit first sequence of the
/// segment) and <c>spool.state</c> (<see cref="SpoolState"/>), all 0600. Invariant behind "never
/// reuse a sequence": every sequence ever handed to the shipper is on disk, or at most
/// max(acked, dropped) in the state file, which is written before any segment is deleted. A spool
/// whose state is lost cannot know which sequences it used: it starts a new epoch
/// (<see cref="Epoch"/>), and batches are keyed on (agent, epoch, sequence).
/// </para>
/// <para>
/// This class only wires the parts together. <see cref="SegmentFile"/>: one segment file (write,
/// read and check, fsync, cut, the scan at open). <see cref="SpoolIndex"/>: which entries exist
/// and which are done with, sequences, epoch, unreported loss, counters, the state file.
/// <see cref="SpoolWriter"/>: the append path (stamping, the cap, rolling, the fsync policy).
/// <see cref="SpoolRecovery"/>: opening after a clean close or a crash.
/// </para>
/// <para>
/// Lock order: the writer's gate (<see cref="SpoolWriter"/>: one append, interval fsync or epoch
/// change at a time), then the index's lock (<see cref="SpoolIndex"/>: index, state, counters,
/// reader, and every read or deletion of a segment file). Never the other way round: the index
/// never calls the writer. Segment files have no lock of their own. The reader's calls take only
/// the index's lock, so they do not wait for a segment write or its fsync (they do wait for a
/// state file write, which happens under the index's lock).
/// </para>
/// </remarks>
internal sealed class DiskSpool : IDisposable
{
    private readonly SpoolIndex _index;
    private readonly SpoolWriter _writer;

    private DiskSpool(int maxPayload, SpoolIndex index, SpoolWriter writer)
    {
        MaxBatchBytes = maxPayload;
        _index = index;
        _writer = writer;
    }

    /// <summary>Opens (creating if needed) the spool in <see cref="SpoolOptions.Directory"/>, recovering from a crash: torn or corrupt tails are cut, everything before them kept.</summary>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">The options are invalid.</exception>
    public static DiskSpool Open(SpoolOptions options, TimeProvider? time = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        SpoolOptionsValidator.ThrowIfInvalid(options);
        time ??= TimeProvider.System;
        logger ??= NullLogger.Instance;
        string directory = Path.GetFullPath(options.Directory);
        int maxPayload = (int)Math.Min(options.SegmentBytes - SpoolEntryFormat.HeaderSize, int.MaxValue);
        var settings = new SpoolSettings(options, directory, maxPayload, time, logger);
        var index = SpoolRecovery.Open(settings);
        var writer = new SpoolWriter(index, settings);
        return new DiskSpool(maxPayload, index, writer);
    }

    /// <summary>The largest serialized batch the spool accepts (one segment minus the entry header).</summary>
    public int MaxBatchBytes { get; }

    /// <summary>A snapshot of depth and counters.</summary>
    public SpoolCounters Counters => _index.Snapshot() with { Fsyncs = _writer.Fsyncs, WriteErrors = _writer.WriteErrors };

    /// <summary>The spool's epoch: 32 lowercase hex digits, minted when the spool was created (or its state lost) and after the collector refused a batch's key as taken (ALREADY_EXISTS). Batches appended now carry it.</summary>
    public string Epoch => _index.Epoch;

    /// <summary>The first sequence appended under <see cref="Epoch"/>.</summary>
    public ulong EpochStartSequence => _index.EpochStartSequence;

    /// <summary>
    /// Appends a batch as the <see cref="Batcher"/> cuts it: its header fields, then its events as
    /// they were serialized when added (written as they are, without another copy). Assigns the
    /// batch its sequence and the spool's epoch, adds any delivery loss not yet reported (spool
    /// drops, quarantined batches and trims, corruption) to its loss counters, and writes it
    /// durably (per <see cref="SpoolOptions.Fsync"/>). When the cap would be passed, the oldest
    /// segments are dropped first. Returns the sequence.
    /// </summary>
    /// <exception cref="ArgumentException">The batch is larger than <see cref="MaxBatchBytes"/>.</exception>
    /// <exception cref="IOException">The write failed; the batch was not accepted and nothing already accepted is affected.</exception>
    public ulong Append(CutBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch.Header);
        return _writer.Append(batch.Header, batch.Events, batch.EventCount);
    }

    /// <summary>
    /// Records that batch <paramref name="sequence"/>, read and sent, was refused by the collector and
    /// set aside (quarantined): it is done with, like an acknowledged batch (see <see cref="Acknowledge"/>),
    /// and its loss goes out with the next batch appended, as quarantined_batches and _events, together
    /// with <paramref name="trimmed"/> (quarantined batches the quarantine's cap deleted to make room).
    /// With <paramref name="newEpoch"/> (the collector answered ALREADY_EXISTS: another spool claims the
    /// key), batches appended from now on carry a new epoch starting at the next sequence; batches
    /// already in the spool keep theirs. The state file is written before this returns, so that the
    /// loss and the epoch survive a crash.
    /// </summary>
    public void SetAside(ulong sequence, int eventCount, DeliveryLoss trimmed, bool newEpoch)
    {
        ArgumentNullException.ThrowIfNull(trimmed);
        ArgumentOutOfRangeException.ThrowIfNegative(eventCount);
        _writer.SetAside(sequence, eventCount, trimmed, newEpoch);
        LossRecorded?.Invoke();
    }

    /// <summary>
    /// Raised (outside the spool's locks) when delivery loss was recorded that waits for the next
    /// batch appended: a batch set aside, an entry unreadable on read. The batcher cuts a batch for it
    /// (<see cref="Batcher.RequestCut"/>), so that it reaches the collector on a quiet host too.
    /// </summary>
    public event Action? LossRecorded;

    /// <summary>With <see cref="FsyncMode.Interval"/>: fsyncs and publishes what was written since the last fsync. Otherwise does nothing.</summary>
    public void Flush() => _writer.Flush();

    /// <summary>
    /// The next published batch after the last one read, in sequence order, or null when there is
    /// none yet. The caller owns the returned entry and disposes it. An entry that fails its
    /// checksum on read is skipped and counted as corrupt (spool_corrupt_batches and _events, with
    /// the event count the index kept for it), reported in the next batch appended.
    /// </summary>
    public SpoolEntry? TryRead()
    {
        bool corrupt = false;
        try
        {
            return _index.TryRead(ref corrupt);
        }
        finally
        {
            if (corrupt)
            {
                LossRecorded?.Invoke();
            }
        }
    }

    /// <summary>Completes when <see cref="TryRead"/> may return an entry (or the spool is disposed).</summary>
    public ValueTask WaitToReadAsync(CancellationToken cancellationToken = default) => _index.WaitToReadAsync(cancellationToken);

    /// <summary>True when the cap dropped this batch from the spool: it is reported as lost, so it must not be delivered any more.</summary>
    public bool IsDropped(ulong sequence) => _index.IsDropped(sequence);

    /// <summary>Makes the reader start again after the last acknowledged (or dropped) batch, e.g. when a new shipper takes over.</summary>
    public void RewindReader() => _index.RewindReader();

    /// <summary>
    /// Records that every batch up to <paramref name="sequence"/> is done with (acknowledged by the
    /// collector, or set aside in quarantine). Call in sequence order. Segments whose batches are
    /// all done are deleted.
    /// </summary>
    public void Acknowledge(ulong sequence) => _index.Acknowledge(sequence);

    /// <summary>Flushes what is written, records the acknowledged position and closes the files.</summary>
    public void Dispose() => _writer.Close();
}
