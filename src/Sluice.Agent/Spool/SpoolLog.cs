using Microsoft.Extensions.Logging;

namespace Sluice.Agent.Spool;

internal static partial class SpoolLog
{
    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Spool {Directory} opened: {Batches} batches ({Bytes} bytes) waiting, next sequence {NextSequence}, acknowledged through {AckedThrough}, epoch {Epoch} since sequence {EpochStart}")]
    public static partial void Opened(ILogger logger, string directory, long batches, long bytes, ulong nextSequence, ulong ackedThrough, string epoch, ulong epochStart);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Warning, Message = "Spool segment {Segment}: cut {Bytes} bytes at offset {Offset} ({Reason}); the {Batches} batches before it are kept")]
    public static partial void TailCut(ILogger logger, string segment, long bytes, long offset, string reason, int batches);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Warning, Message = "Spool full ({DepthBytes} of {MaxBytes} bytes): dropped segment {Segment} with {Batches} unacknowledged batches and {Events} events (sequences {From}..{To}); reported to the collector in batch {Carrier}")]
    public static partial void Dropped(ILogger logger, long depthBytes, long maxBytes, string segment, long batches, long events, ulong from, ulong to, ulong carrier);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Error, Message = "Spool: sequences {From}..{To} are missing on disk (corruption); {Batches} batches counted as spool_corrupt_batches, {Events} events as spool_corrupt_events (the events of entries whose header was unreadable are unknown)")]
    public static partial void Gap(ILogger logger, ulong from, ulong to, ulong batches, ulong events);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Error, Message = "Spool: batch {Sequence} in {Segment} fails its checksum on read; counted as spool_corrupt, with its {Events} events")]
    public static partial void CorruptOnRead(ILogger logger, ulong sequence, string segment, int events);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Error, Message = "Spool state file unusable, continuing from the segments alone under a new epoch (acknowledged batches may be resent; the collector deduplicates them)")]
    public static partial void StateUnusable(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Error, Message = "Spool write to {Segment} failed; the batch was not accepted")]
    public static partial void WriteFailed(ILogger logger, string segment, Exception exception);

    [LoggerMessage(EventId = 2008, Level = LogLevel.Error, Message = "Spool interval fsync failed")]
    public static partial void FsyncFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2009, Level = LogLevel.Warning, Message = "Spool {Directory}: new epoch {Epoch} from sequence {Start} ({Reason})")]
    public static partial void EpochStarted(ILogger logger, string directory, string epoch, ulong start, string reason);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Information, Message = "Spool {Directory}: new spool, epoch {Epoch} from sequence {Start}")]
    public static partial void NewSpool(ILogger logger, string directory, string epoch, ulong start);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Error, Message = "Spool: the collector holds other content under epoch {Previous}, sequence {Sequence} (another spool claims the key: a cloned machine or a copied spool); batches cut from now on carry epoch {Epoch} from sequence {Start}")]
    public static partial void EpochAfterConflict(ILogger logger, string previous, ulong sequence, string epoch, ulong start);
}
