using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sluice.Agent.Spool;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Shipping;

/// <summary>What the runtime knows about itself for a heartbeat; the sender adds identity, time and spool depth.</summary>
internal sealed record HeartbeatValues
{
    public required string Version { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
    /// <summary>"unicast" (owns audit) or "multicast" (compatibility).</summary>
    public required string Mode { get; init; }
    public KernelSettings? Kernel { get; init; }
    public string RulesHash { get; init; } = "";
    public uint RulesCount { get; init; }
    /// <summary>The rules in force, one per line as <c>auditctl -l</c> prints them (for the collector's baseline check).</summary>
    public IReadOnlyList<string> Rules { get; init; } = [];
    /// <summary>Loss since agent start.</summary>
    public LossCounters? LossTotals { get; init; }
    public uint SocketBufferBytes { get; init; }
    public uint DrainIntervalMs { get; init; }
    /// <summary>The hash of the central policy in force; empty while the local rules and filters files are.</summary>
    public string PolicyHash { get; init; } = "";
    /// <summary>The hash of the last central policy refused (until a different one is in force), and why.</summary>
    public string PolicyRefusedHash { get; init; } = "";
    public string PolicyRefusal { get; init; } = "";
}

/// <summary>
/// Builds <see cref="AgentHeartbeat"/> messages and sends them over the shipper's channel. A
/// heartbeat is not retried: the next one supersedes it.
/// </summary>
internal sealed class HeartbeatSender
{
    private readonly AgentIdentity _identity;
    private readonly DiskSpool _spool;
    private readonly IIngestClient _transport;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly TimeSpan _timeout;
    private long _sent;
    private long _failed;

    public HeartbeatSender(AgentIdentity identity, DiskSpool spool, Shipper shipper, TimeSpan timeout, TimeProvider? time = null, ILogger<HeartbeatSender>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(spool);
        ArgumentNullException.ThrowIfNull(shipper);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeout, TimeSpan.Zero);
        _identity = identity;
        _spool = spool;
        _transport = shipper.Transport;
        _timeout = timeout;
        _time = time ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    public long Sent => Interlocked.Read(ref _sent);

    public long Failed => Interlocked.Read(ref _failed);

    public AgentHeartbeat Build(HeartbeatValues values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var spool = _spool.Counters;
        var heartbeat = new AgentHeartbeat
        {
            AgentId = _identity.AgentId,
            Hostname = _identity.Hostname,
            BootId = _identity.BootId,
            Version = values.Version,
            TimeUnixMs = _time.GetUtcNow().ToUnixTimeMilliseconds(),
            StartedUnixMs = values.StartedAt.ToUnixTimeMilliseconds(),
            Mode = values.Mode,
            Kernel = values.Kernel ?? new KernelSettings(),
            RulesHash = values.RulesHash,
            RulesCount = values.RulesCount,
            LossTotals = values.LossTotals ?? new LossCounters(),
            SpoolDepthBytes = (ulong)spool.DepthBytes,
            SpoolDepthBatches = (ulong)spool.DepthBatches,
            SocketBufferBytes = values.SocketBufferBytes,
            DrainIntervalMs = values.DrainIntervalMs,
            Epoch = spool.Epoch,
            PolicyHash = values.PolicyHash,
            PolicyRefusedHash = values.PolicyRefusedHash,
            PolicyRefusal = values.PolicyRefusal,
        };
        heartbeat.Rules.AddRange(values.Rules);
        return heartbeat;
    }

    /// <summary>Sends one heartbeat. Returns the server's reply, or null when it failed (logged and counted).</summary>
    public async Task<HeartbeatReply?> SendAsync(HeartbeatValues values, CancellationToken cancellationToken)
    {
        var heartbeat = Build(values);
        try
        {
            var reply = await _transport.HeartbeatAsync(heartbeat, _timeout, cancellationToken).ConfigureAwait(false);
            Interlocked.Increment(ref _sent);
            return reply;
        }
        catch (RpcException e)
        {
            Interlocked.Increment(ref _failed);
            ShipperLog.HeartbeatFailed(_logger, $"{e.StatusCode}: {e.Status.Detail}");
            return null;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            Interlocked.Increment(ref _failed);
            ShipperLog.HeartbeatFailed(_logger, $"no answer within {_timeout}");
            return null;
        }
    }
}
