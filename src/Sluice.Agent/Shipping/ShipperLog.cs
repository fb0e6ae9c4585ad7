using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Sluice.Agent.Shipping;

internal static partial class ShipperLog
{
    [LoggerMessage(EventId = 2101, Level = LogLevel.Information, Message = "Shipping to {CollectorUrls} with up to {MaxInFlight} batches in flight")]
    public static partial void Started(ILogger logger, string collectorUrls, int maxInFlight);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Warning, Message = "Batch {Sequence}: attempt {Attempt} failed ({Reason}); retrying in {Delay}")]
    public static partial void Retrying(ILogger logger, ulong sequence, int attempt, string reason, TimeSpan delay);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Error, Message = "Batch {Sequence} ({Events} events) refused by the collector {CollectorUrl}: {Code} {Detail}; moved to quarantine {Directory}")]
    public static partial void Quarantined(ILogger logger, ulong sequence, int events, string collectorUrl, StatusCode code, string detail, string directory);

    [LoggerMessage(EventId = 2104, Level = LogLevel.Critical, Message = "The collector {CollectorUrl} refused this agent's credentials ({Code}: {Detail}); shipping is stopped, events stay in the spool. Next try in {Probe}")]
    public static partial void AuthenticationFailed(ILogger logger, string collectorUrl, StatusCode code, string detail, TimeSpan probe);

    [LoggerMessage(EventId = 2105, Level = LogLevel.Critical, Message = "The collector {CollectorUrl} answered batch {Sequence} with {Reason}; shipping is stopped, events stay in the spool. Next try in {Probe}")]
    public static partial void Stalled(ILogger logger, ulong sequence, string collectorUrl, string reason, TimeSpan probe);

    [LoggerMessage(EventId = 2106, Level = LogLevel.Information, Message = "Shipping resumed")]
    public static partial void Resumed(ILogger logger);

    [LoggerMessage(EventId = 2107, Level = LogLevel.Error, Message = "Cannot re-read the token file")]
    public static partial void TokenReloadFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2108, Level = LogLevel.Warning, Message = "Heartbeat failed: {Reason}")]
    public static partial void HeartbeatFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 2109, Level = LogLevel.Error, Message = "Batch {Sequence} of epoch {Epoch} ({Events} events) refused by the collector {CollectorUrl} with AlreadyExists: {Detail}. Another spool sent other content under the same key (a cloned machine, a copied spool). The batch is moved to quarantine {Directory} and counted as lost; batches cut from now on carry epoch {NewEpoch} from sequence {Start}")]
    public static partial void Conflict(ILogger logger, ulong sequence, string epoch, int events, string collectorUrl, string detail, string directory, string newEpoch, ulong start);

    [LoggerMessage(EventId = 2114, Level = LogLevel.Error, Message = "The collector {CollectorUrl} refused this agent's credentials ({Code}: {Detail}) while {AcceptingUrl} accepts them: that collector's token list probably lacks this agent (enrolled on one collector only, or revoked on one only). Shipping stops all the same until it is fixed, so that a revoked agent stops everywhere")]
    public static partial void CredentialsRefusedByOne(ILogger logger, string collectorUrl, StatusCode code, string detail, string acceptingUrl);

    [LoggerMessage(EventId = 2115, Level = LogLevel.Information, Message = "The collector {CollectorUrl} paces this agent: each next batch is sent {PaceMs} ms after an ack (honoured: {Pace}, at most {MaxPace}), one in flight at a time; batches wait in the spool meanwhile")]
    public static partial void PacingStarted(ILogger logger, string collectorUrl, uint paceMs, TimeSpan pace, TimeSpan maxPace);

    [LoggerMessage(EventId = 2116, Level = LogLevel.Information, Message = "The collector {CollectorUrl} no longer paces this agent, after {PacedAcks} paced acks: up to {MaxInFlight} batches in flight again")]
    public static partial void PacingEnded(ILogger logger, string collectorUrl, long pacedAcks, int maxInFlight);
}
