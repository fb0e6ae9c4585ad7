using Microsoft.Extensions.Logging;

namespace Sluice.Collector.Ingest;

internal static partial class IngestLog
{
    [LoggerMessage(EventId = 101, Level = LogLevel.Debug, Message = "Batch {Sequence} from {AgentId} is a duplicate; acknowledged, not stored again")]
    public static partial void Duplicate(ILogger logger, ulong sequence, string agentId);

    [LoggerMessage(EventId = 102, Level = LogLevel.Error, Message = "Storing batch {Sequence} from {AgentId} failed")]
    public static partial void StoreFailed(ILogger logger, Exception exception, ulong sequence, string agentId);

    [LoggerMessage(EventId = 103, Level = LogLevel.Error, Message = "Storing a heartbeat from {AgentId} failed")]
    public static partial void HeartbeatFailed(ILogger logger, Exception exception, string agentId);

    [LoggerMessage(EventId = 104, Level = LogLevel.Warning, Message = "Refused batch {Sequence} of epoch '{Epoch}' from {AgentId}: ALREADY_EXISTS, the key is taken by other content (stored digest {StoredDigest}, this batch's {Digest}); {Suppressed} more such lines from this agent held back since the last")]
    public static partial void Conflict(ILogger logger, string agentId, string epoch, ulong sequence, string storedDigest, string digest, long suppressed);

    [LoggerMessage(EventId = 105, Level = LogLevel.Error, Message = "Recording the refusal ({Code}) of batch {Sequence} from {AgentId} failed; the agent got that status all the same")]
    public static partial void RefusalNotRecorded(ILogger logger, Exception exception, Grpc.Core.StatusCode code, ulong sequence, string agentId);

    [LoggerMessage(EventId = 106, Level = LogLevel.Error, Message = "The store refused batch {Sequence} from {AgentId} permanently, refused as invalid: {Reason}")]
    public static partial void StoreRefused(ILogger logger, Exception exception, ulong sequence, string agentId, string reason);

    [LoggerMessage(EventId = 107, Level = LogLevel.Error, Message = "Interpreting event {Serial} of batch {Sequence} from {AgentId} failed; it is stored with its records and without the interpreted fields")]
    public static partial void InterpretationFailed(ILogger logger, Exception exception, ulong serial, ulong sequence, string agentId);

    [LoggerMessage(EventId = 108, Level = LogLevel.Information, Message = "{Call} from {AgentId}: the caller went away (cancelled, deadline or connection closed) before the answer; nothing acknowledged")]
    public static partial void CallerGone(ILogger logger, string call, string agentId);
}
