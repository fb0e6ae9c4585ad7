using Microsoft.Extensions.Logging;

namespace Sluice.Collector.Streaming;

internal static partial class StreamLog
{
    [LoggerMessage(EventId = 301, Level = LogLevel.Information, Message = "Event stream: connected to {Server}; publishing to stream {Stream} as {Format}")]
    public static partial void Connected(ILogger logger, string server, string stream, string format);

    [LoggerMessage(EventId = 302, Level = LogLevel.Warning, Message = "Event stream: connection to the NATS server lost ({Reason}); events are buffered (up to {Capacity}) while the client reconnects")]
    public static partial void Disconnected(ILogger logger, string reason, int capacity);

    [LoggerMessage(EventId = 303, Level = LogLevel.Information, Message = "Event stream: created stream {Stream} (subjects {Subjects}, file storage, {Replicas} replicas, duplicate window {Window})")]
    public static partial void Created(ILogger logger, string stream, string subjects, int replicas, TimeSpan window);

    [LoggerMessage(EventId = 304, Level = LogLevel.Warning, Message = "Event stream: the existing stream {Stream} takes subjects {Subjects}, which do not cover {Shape}; events on the others will not be stored by it")]
    public static partial void SubjectsNotCovered(ILogger logger, string stream, string subjects, string shape);

    [LoggerMessage(EventId = 305, Level = LogLevel.Warning, Message = "Event stream: the existing stream {Stream} has a duplicate window of {Window}, shorter than {Short}: a resend after a lost acknowledgement may then reach consumers twice")]
    public static partial void ShortWindow(ILogger logger, string stream, TimeSpan window, TimeSpan @short);

    [LoggerMessage(EventId = 306, Level = LogLevel.Error, Message = "Event stream: cannot look up or create stream {Stream}; trying again in {Delay}")]
    public static partial void EnsureFailed(ILogger logger, Exception exception, string stream, TimeSpan delay);

    [LoggerMessage(EventId = 307, Level = LogLevel.Warning, Message = "Event stream: publishing failed ({Error}); retrying in {Delay} ({Suppressed} more failures since the last line)")]
    public static partial void PublishFailed(ILogger logger, string error, TimeSpan delay, long suppressed);

    [LoggerMessage(EventId = 308, Level = LogLevel.Warning, Message = "Event stream: dropping events, the buffer of {Capacity} stayed full for {MaxWait}; {Dropped} dropped so far (stored and acknowledged all the same)")]
    public static partial void DroppingStarted(ILogger logger, int capacity, TimeSpan maxWait, long dropped);

    [LoggerMessage(EventId = 309, Level = LogLevel.Warning, Message = "Event stream: still dropping events; {Recent} dropped in the last {Interval}, {Dropped} in all")]
    public static partial void DroppingContinues(ILogger logger, long recent, TimeSpan interval, long dropped);

    [LoggerMessage(EventId = 310, Level = LogLevel.Information, Message = "Event stream: stopped dropping events; {Dropped} dropped in all since start")]
    public static partial void DroppingStopped(ILogger logger, long dropped);

    [LoggerMessage(EventId = 311, Level = LogLevel.Error, Message = "Event stream: event {Serial} of batch {Sequence} from {AgentId} could not be written as {Format}; dropped from the stream")]
    public static partial void Unwritable(ILogger logger, Exception exception, ulong serial, ulong sequence, string agentId, string format);

    [LoggerMessage(EventId = 312, Level = LogLevel.Error, Message = "Event stream: classifying an event failed; it goes out under the class 'other' (logged once)")]
    public static partial void ClassifyFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 313, Level = LogLevel.Warning, Message = "Event stream: stopped with {Left} events not published after waiting {Timeout}; counted as dropped")]
    public static partial void FlushIncomplete(ILogger logger, long left, TimeSpan timeout);
}
