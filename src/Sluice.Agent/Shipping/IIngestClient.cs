using Sluice.Agent.Spool;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Shipping;

/// <summary>
/// The agent's calls to the collector's <c>sluice.v1.Ingest</c> service, one attempt each: the
/// <see cref="Shipper"/> and the <see cref="HeartbeatSender"/> use nothing else to reach it.
/// <see cref="IngestTransport"/> makes them over gRPC; a test may put another in its place.
/// </summary>
/// <remarks>A refusal or failure is an <see cref="Grpc.Core.RpcException"/> with the collector's status, as gRPC gives it.</remarks>
internal interface IIngestClient
{
    /// <summary>Sends one spooled batch (a serialized EventBatch) as <c>Ingest.Send</c>.</summary>
    Task<Ack> SendAsync(SpoolEntry batch, CancellationToken cancellationToken);

    /// <summary>Sends one heartbeat, with a deadline <paramref name="timeout"/> from now.</summary>
    Task<HeartbeatReply> HeartbeatAsync(AgentHeartbeat heartbeat, TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>The bearer token for the calls from now on (the token file was read again).</summary>
    void SetToken(string token);
}
