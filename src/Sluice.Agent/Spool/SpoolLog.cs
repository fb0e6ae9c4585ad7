using Microsoft.Extensions.Logging;

namespace Sluice.Agent.Spool;

internal static partial class SpoolLog
{
    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Spool {Directory} opened: {Batches} batches ({Bytes} bytes) waiting, next sequence {NextSequence}, acknowledged through {AckedThrough}")]
    public static partial void Opened(ILogger logger, string directory, long batches, long bytes, ulong nextSequence, ulong ackedThrough);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Warning, Message = "Spool segment {Segment}: cut {Bytes} bytes at offset {Offset} ({Reason}); the {Batches} batches before it are kept")]
    public static partial void TailCut(ILogger logger, string segment, long bytes, long offset, string reason, int batches);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Warning, Message = "Spool full ({DepthBytes} of {MaxBytes} bytes): dropped segment {Segment} with {Batches} unacknowledged batches and {Events} events (sequences {From}..{To}); reported to the collector in batch {Carrier}")]
    public static partial void Dropped(ILogger logger, long depthBytes, long maxBytes, string segment, long batches, long events, ulong from, ulong to, ulong carrier);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Error, Message = "Spool: sequences {From}..{To} are missing on disk (corruption); {Batches} batches counted as dropped")]
    public static partial void Gap(ILogger logger, ulong from, ulong to, ulong batches);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Error, Message = "Spool: batch {Sequence} in {Segment} fails its checksum on read; counted as dropped")]
    public static partial void CorruptOnRead(ILogger logger, ulong sequence, string segment);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Error, Message = "Spool state file unusable, continuing from the segments alone (acknowledged batches may be resent; the collector deduplicates them)")]
    public static partial void StateUnusable(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Error, Message = "Spool write to {Segment} failed; the batch was not accepted")]
    public static partial void WriteFailed(ILogger logger, string segment, Exception exception);

    [LoggerMessage(EventId = 2008, Level = LogLevel.Error, Message = "Spool interval fsync failed")]
    public static partial void FsyncFailed(ILogger logger, Exception exception);
}
