using System.Collections.Concurrent;
using Sluice.Agent.Shipping;
using Sluice.Agent.Spool;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Tests.Shipping;

/// <summary>
/// An <see cref="IIngestClient"/> in front of another (the real gRPC one, to a <see cref="TestCollector"/>), for
/// faults on the agent's side of the wire that a collector cannot make: <see cref="OnSend"/> decides what the
/// shipper gets from each Send. Heartbeats and token changes pass through.
/// </summary>
internal sealed class InterceptedIngestClient(IIngestClient inner) : IIngestClient
{
    private readonly ConcurrentDictionary<ulong, int> _attempts = new();

    /// <summary>
    /// Given the batch's sequence, the attempt for that sequence (1 = first) and the call to the inner client,
    /// the outcome the shipper sees: it may throw before or after the call, or change its ack. Null passes every call through.
    /// </summary>
    public Func<ulong, int, Func<Task<Ack>>, Task<Ack>>? OnSend { get; set; }

    public Task<Ack> SendAsync(SpoolEntry batch, CancellationToken cancellationToken)
    {
        int attempt = _attempts.AddOrUpdate(batch.Sequence, 1, static (_, n) => n + 1);
        var call = () => inner.SendAsync(batch, cancellationToken);
        return OnSend is { } onSend ? onSend(batch.Sequence, attempt, call) : call();
    }

    public Task<HeartbeatReply> HeartbeatAsync(AgentHeartbeat heartbeat, TimeSpan timeout, CancellationToken cancellationToken) =>
        inner.HeartbeatAsync(heartbeat, timeout, cancellationToken);

    public void SetToken(string token) => inner.SetToken(token);
}
