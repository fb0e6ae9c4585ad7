using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Win32.SafeHandles;

namespace Sluice.Agent.Spool;

/// <summary>
/// The durable queue between the pipeline and the shipper: append-only segment files of
/// checksummed EventBatch entries, in sequence order, with a size cap that drops the oldest
/// segments (counted, and reported to the collector in the next batch's loss counters).
/// One writer (<see cref="Append"/>) and one reader (<see cref="TryRead"/>, <see cref="Acknowledge"/>)
/// may run on different threads.
/// </summary>
/// <remarks>
/// Files in the directory (0700): <c>NNNNNNNNNNNNNNNNNNNN.seg</c> (20-digit first sequence of the
/// segment) and <c>spool.state</c> (<see cref="SpoolState"/>), all 0600. Invariant behind "never
/// reuse a sequence": every sequence ever handed to the shipper is on disk, or at most
/// max(acked, dropped) in the state file, which is written before any segment is deleted. A spool
/// whose state is lost cannot know which sequences it used: it starts a new epoch
/// (<see cref="Epoch"/>), and batches are keyed on (agent, epoch, sequence).
/// </remarks>
public sealed partial class DiskSpool : IDisposable
{
    private const string SegmentExtension = ".seg";

    private sealed class Segment(string path, ulong firstSequence, SafeFileHandle handle)
    {
        public string Path { get; } = path;
        public ulong FirstSequence { get; } = firstSequence;
        public SafeFileHandle Handle { get; } = handle;
        /// <summary>Bytes written, including entries not yet published.</summary>
        public long Length { get; set; }
        /// <summary>Published entries, in sequence order.</summary>
        public List<EntryInfo> Entries { get; } = [];
        /// <summary>Entries before this index are acknowledged or dropped.</summary>
        public int FirstLive { get; set; }
        public bool Sealed { get; set; }
        public ulong LastSequence => Entries.Count > 0 ? Entries[^1].Sequence : 0;
    }

    /// <summary>One published entry. <c>Carried</c>: the delivery loss its batch reports (null for none, the usual case, to keep the index small).</summary>
    private readonly record struct EntryInfo(ulong Sequence, long Offset, int HeaderLength, int PayloadLength, int EventCount, DeliveryLoss? Carried)
    {
        public int Length => HeaderLength + PayloadLength;

        public DeliveryLoss CarriedLoss => Carried ?? DeliveryLoss.None;
    }

    private readonly SpoolOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _directory;
    private readonly int _maxPayload;

    // _writeGate: one append (or interval flush) at a time; taken before _lock, never after.
    // _lock: the index, the counters, the reader cursor and the state fields. Reads of segment
    // data also happen under it, so that a segment handle is never closed under a reader.
    private readonly Lock _writeGate = new();
    private readonly Lock _lock = new();

    private readonly List<Segment> _segments = [];
    private Segment? _active;
    private readonly List<EntryInfo> _unpublished = [];
    private ITimer? _fsyncTimer;
    private long _lastFsync;
    private long _lastStatePersist;

    private ulong _nextSequence;
    private ulong _ackedThrough;
    private ulong _droppedThrough;
    private string _epoch = "";
    private ulong _epochStart;
    // Delivery loss not yet in any batch. It goes out with the next batch appended; while an
    // append is under way (_appending), that batch has taken _carrying, and what is recorded
    // meanwhile waits in _pending for the batch after it. Both are in the state file, each with
    // its carrier, so that a restart knows which of them reached the disk.
    private DeliveryLoss _pending = DeliveryLoss.None;
    private DeliveryLoss _carrying = DeliveryLoss.None;
    private bool _appending;
    private ulong _readNext;
    private TaskCompletionSource _readable = NewSignal();
    private bool _disposed;

    private long _depthBytes;
    private long _depthBatches;
    private long _depthEvents;
    private long _writtenBatches;
    private long _writtenEvents;
    private long _writtenBytes;
    private long _ackedBatches;
    private long _ackedEvents;
    private long _droppedBatches;
    private long _droppedEvents;
    private long _corruptBatches;
    private long _corruptEvents;
    private long _quarantinedBatches;
    private long _quarantinedEvents;
    private long _trimmedBatches;
    private long _trimmedEvents;
    private long _epochsStarted;
    private long _recoveredBatches;
    private long _recoveryCutBytes;
    private long _fsyncs;
    private long _writeErrors;

    private DiskSpool(SpoolOptions options, TimeProvider time, ILogger logger)
    {
        _options = options;
        _time = time;
        _logger = logger;
        _directory = Path.GetFullPath(options.Directory);
        _maxPayload = (int)Math.Min(options.SegmentBytes - SpoolEntryFormat.HeaderSize, int.MaxValue);
    }

    /// <summary>Opens (creating if needed) the spool in <see cref="SpoolOptions.Directory"/>, recovering from a crash: torn or corrupt tails are cut, everything before them kept.</summary>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">The options are invalid.</exception>
    public static DiskSpool Open(SpoolOptions options, TimeProvider? time = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        SpoolOptionsValidator.ThrowIfInvalid(options);
        var spool = new DiskSpool(options, time ?? TimeProvider.System, logger ?? NullLogger.Instance);
        try
        {
            spool.Recover();
        }
        catch
        {
            spool.CloseHandles();
            throw;
        }
        if (options.Fsync == FsyncMode.Interval)
        {
            spool._fsyncTimer = spool._time.CreateTimer(static s => ((DiskSpool)s!).OnFsyncTimer(), spool, options.FsyncInterval, options.FsyncInterval);
        }
        return spool;
    }

    /// <summary>The absolute spool directory.</summary>
    public string DirectoryPath => _directory;

    /// <summary>The largest serialized batch the spool accepts (one segment minus the entry header).</summary>
    public int MaxBatchBytes => _maxPayload;

    /// <summary>A snapshot of depth and counters.</summary>
    public SpoolCounters Counters
    {
        get
        {
            lock (_lock)
            {
                return new SpoolCounters
                {
                    DepthBytes = _depthBytes,
                    DepthBatches = _depthBatches,
                    DepthEvents = _depthEvents,
                    Segments = _segments.Count,
                    WrittenBatches = _writtenBatches,
                    WrittenEvents = _writtenEvents,
                    WrittenBytes = _writtenBytes,
                    AckedBatches = _ackedBatches,
                    AckedEvents = _ackedEvents,
                    DroppedBatches = _droppedBatches,
                    DroppedEvents = _droppedEvents,
                    CorruptBatches = _corruptBatches,
                    CorruptEvents = _corruptEvents,
                    QuarantinedBatches = _quarantinedBatches,
                    QuarantinedEvents = _quarantinedEvents,
                    QuarantineTrimmedBatches = _trimmedBatches,
                    QuarantineTrimmedEvents = _trimmedEvents,
                    UnreportedLoss = _pending + _carrying,
                    Epoch = _epoch,
                    EpochStartSequence = _epochStart,
                    EpochsStarted = _epochsStarted,
                    RecoveredBatches = _recoveredBatches,
                    RecoveryCutBytes = _recoveryCutBytes,
                    Fsyncs = _fsyncs,
                    WriteErrors = _writeErrors,
                    NextSequence = _nextSequence,
                    AckedThrough = _ackedThrough,
                    DroppedThrough = _droppedThrough,
                };
            }
        }
    }

    /// <summary>The spool's epoch: 32 lowercase hex digits, minted when the spool was created (or its state lost) and after the collector refused a batch's key as taken (ALREADY_EXISTS). Batches appended now carry it.</summary>
    public string Epoch
    {
        get
        {
            lock (_lock)
            {
                return _epoch;
            }
        }
    }

    /// <summary>The first sequence appended under <see cref="Epoch"/>.</summary>
    public ulong EpochStartSequence
    {
        get
        {
            lock (_lock)
            {
                return _epochStart;
            }
        }
    }

    private ulong Floor => Math.Max(_ackedThrough, _droppedThrough);

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static string SegmentName(ulong firstSequence) => firstSequence.ToString("D20", System.Globalization.CultureInfo.InvariantCulture) + SegmentExtension;

    // Caller holds _lock. The pending loss rides on the next batch appended: this one if none is
    // under way, else the one after it.
    private void PersistState()
    {
        ulong pendingCarrier = _appending ? _nextSequence + 1 : _nextSequence;
        new SpoolState(_nextSequence, _ackedThrough, _droppedThrough, _epoch, _epochStart,
            _pending, _pending.IsNone ? 0 : pendingCarrier,
            _carrying, _carrying.IsNone ? 0 : _nextSequence).Write(_directory);
        _lastStatePersist = _time.GetTimestamp();
    }

    // Caller holds _lock and has persisted the state that makes these segments unnecessary.
    private void DeleteSegment(Segment segment)
    {
        segment.Handle.Dispose();
        File.Delete(segment.Path);
        _segments.Remove(segment);
        _depthBytes -= segment.Length;
        if (ReferenceEquals(segment, _active))
        {
            _active = null;
        }
    }

    /// <summary>Flushes what is written, records the acknowledged position and closes the files.</summary>
    public void Dispose()
    {
        lock (_writeGate)
        {
            if (_disposed)
            {
                return;
            }
            _fsyncTimer?.Dispose();
            lock (_lock)
            {
                try
                {
                    if (_active is not null && _options.Fsync != FsyncMode.Never)
                    {
                        RandomAccess.FlushToDisk(_active.Handle);
                    }
                    PublishUnpublished();
                    PersistState();
                }
                finally
                {
                    _disposed = true;
                    CloseHandles();
                    _readable.TrySetResult();
                }
            }
        }
    }

    private void CloseHandles()
    {
        foreach (var segment in _segments)
        {
            segment.Handle.Dispose();
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);
}
