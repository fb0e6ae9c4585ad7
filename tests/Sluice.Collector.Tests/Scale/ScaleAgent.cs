using System.Collections.Concurrent;
using Grpc.Core;
using Grpc.Net.Client;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;
using IngestClient = Sluice.Protocol.V1.Ingest.IngestClient;

namespace Sluice.Collector.Tests.Scale;

/// <summary>What one attempt to send a batch ended with, at which collector (its index in the agent's list of all collectors).</summary>
internal sealed record ScaleAttempt(ulong Sequence, int Collector, string Outcome, DateTimeOffset At)
{
    public const string Stored = "stored";
    public const string Duplicate = "duplicate";
}

/// <summary>
/// One agent identity (its own token and epoch) sending batches with consecutive sequences, the way the
/// agent's shipper does (<c>Sluice.Agent.Shipping.CollectorSet</c>): each attempt goes to the first collector
/// of its list that is up or due for a probe; a transient failure marks that collector down for a backoff
/// and the batch goes at once to the next one up; a batch is resent until some collector acknowledges it,
/// and never after. Several batches are in flight, each on its own. A refusal (a status the agent would
/// not retry) fails the load: nothing in these tests should be refused.
/// </summary>
/// <remarks>
/// The shipper itself is tested with real collectors in <c>Sluice.Agent.Tests</c> (one agent, two collectors);
/// this is its failover rule without the spool, so that a test can run several identities in one process and
/// record every attempt.
/// </remarks>
internal sealed class ScaleAgent : IDisposable
{
    private static readonly TimeSpan AttemptDeadline = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan BaseBackoff = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(2);

    private readonly GrpcChannel[] _channels;
    private readonly IngestClient[] _clients;
    private readonly int[] _order;
    private readonly DateTimeOffset[] _downUntil;
    private readonly int[] _failures;
    private readonly Lock _lock = new();
    private readonly long _t0;
    private long _nextSequence;

    /// <param name="collectors">Every collector's address; the agent prefers them in <paramref name="order"/>.</param>
    public ScaleAgent(string agentId, string token, IReadOnlyList<Uri> collectors, int[] order, long t0Unix, int eventsPerBatch)
    {
        AgentId = agentId;
        Token = token;
        Epoch = Guid.NewGuid().ToString("N"); // as the agent makes one: 32 lowercase hex digits
        EventsPerBatch = eventsPerBatch;
        _t0 = t0Unix;
        _order = order;
        _channels = [.. collectors.Select(c => GrpcChannel.ForAddress(c, new GrpcChannelOptions { MaxReceiveMessageSize = null, MaxSendMessageSize = null }))];
        _clients = [.. _channels.Select(c => new IngestClient(c))];
        _downUntil = new DateTimeOffset[collectors.Count];
        _failures = new int[collectors.Count];
    }

    public string AgentId { get; }
    public string Token { get; }
    public string Epoch { get; }
    public int EventsPerBatch { get; }

    public string Hostname => AgentId + ".example";

    /// <summary>Every batch made, by sequence (made once; a resend sends the same one).</summary>
    public ConcurrentDictionary<ulong, EventBatch> Sent { get; } = new();

    /// <summary>Every attempt, in the order they ended.</summary>
    public ConcurrentQueue<ScaleAttempt> Attempts { get; } = new();

    /// <summary>The sequences acknowledged so far.</summary>
    public ConcurrentDictionary<ulong, int> Acked { get; } = new();

    /// <summary>Batch <paramref name="sequence"/>: its events' serials follow the batch before's, one event per millisecond from t0.</summary>
    public EventBatch Batch(ulong sequence)
    {
        long firstSerial = (long)(sequence - 1) * EventsPerBatch + 1;
        var batch = TestEvents.Batch(AgentId, sequence, EventsPerBatch, firstSerial: firstSerial, startUnixMs: _t0 + firstSerial, stepMs: 1);
        batch.Epoch = Epoch;
        batch.EpochStartSequence = 1;
        batch.BootId = "boot-" + AgentId;
        return batch;
    }

    public Metadata Bearer => CollectorHarness.Bearer(Token);

    /// <summary>Sends new batches, <paramref name="inFlight"/> at a time, until <paramref name="stop"/> is cancelled; returns once every batch made is acknowledged.</summary>
    public async Task RunAsync(int inFlight, TimeSpan pause, CancellationToken stop)
    {
        await Task.WhenAll(Enumerable.Range(0, inFlight).Select(async _ =>
        {
            while (!stop.IsCancellationRequested)
            {
                ulong sequence = (ulong)Interlocked.Increment(ref _nextSequence);
                var batch = Batch(sequence);
                Sent[sequence] = batch;
                await SendUntilAckedAsync(batch);
                await Task.Delay(pause, CancellationToken.None);
            }
        }));
    }

    private AgentHeartbeat Heartbeat(long timeUnixMs) => new()
    {
        AgentId = AgentId, Hostname = Hostname, BootId = "boot-" + AgentId, Version = "1.0", Mode = "unicast",
        TimeUnixMs = timeUnixMs, StartedUnixMs = _t0, RulesHash = "sha256:4f2a", Epoch = Epoch, LossTotals = new LossCounters(),
    };

    /// <summary>One heartbeat, to the collector the next batch would go to, or the next one up.</summary>
    public async Task HeartbeatAsync(long timeUnixMs)
    {
        var heartbeat = Heartbeat(timeUnixMs);
        await RetryAsync(async c => await _clients[c].HeartbeatAsync(heartbeat, Bearer, deadline: DateTime.UtcNow + AttemptDeadline), null);
    }

    /// <summary>One heartbeat to collector <paramref name="collector"/> itself, and its reply (with the group's policy, if any).</summary>
    public async Task<HeartbeatReply> HeartbeatToAsync(int collector, long timeUnixMs) =>
        await _clients[collector].HeartbeatAsync(Heartbeat(timeUnixMs), Bearer, deadline: DateTime.UtcNow + AttemptDeadline);

    /// <summary>Resends <paramref name="batch"/> until a collector acknowledges it.</summary>
    public async Task<Ack> SendUntilAckedAsync(EventBatch batch)
    {
        var ack = await RetryAsync(async c => await _clients[c].SendAsync(batch, Bearer, deadline: DateTime.UtcNow + AttemptDeadline), batch.Sequence);
        Acked[batch.Sequence] = Acked.GetValueOrDefault(batch.Sequence) + 1;
        return ack;
    }

    private async Task<T> RetryAsync<T>(Func<int, Task<T>> attempt, ulong? sequence)
    {
        var give = DateTimeOffset.UtcNow + TimeSpan.FromMinutes(3);
        while (true)
        {
            int c = Select(out var wait);
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait);
            }
            try
            {
                var result = await attempt(c);
                Up(c);
                if (sequence is ulong s)
                {
                    Attempts.Enqueue(new(s, c, result is Ack { Duplicate: true } ? ScaleAttempt.Duplicate : ScaleAttempt.Stored, DateTimeOffset.UtcNow));
                }
                return result;
            }
            catch (RpcException e) when (!Refusal(e.StatusCode))
            {
                if (sequence is ulong s)
                {
                    Attempts.Enqueue(new(s, c, e.StatusCode.ToString(), DateTimeOffset.UtcNow));
                }
                Down(c);
                if (DateTimeOffset.UtcNow > give)
                {
                    throw new InvalidOperationException($"{AgentId}: {(sequence is null ? "heartbeat" : $"batch {sequence}")} not answered by any collector in 3 minutes; last: {e.Status}", e);
                }
            }
        }
    }

    /// <summary>Statuses the agent does not retry (nor fail over): the batch or the credentials are refused.</summary>
    private static bool Refusal(StatusCode code) => code is StatusCode.InvalidArgument or StatusCode.AlreadyExists or StatusCode.FailedPrecondition
        or StatusCode.OutOfRange or StatusCode.Unauthenticated or StatusCode.PermissionDenied;

    /// <summary>The first collector in the agent's order that is up or due for a probe; when all are down, the one due first, and how long until then.</summary>
    private int Select(out TimeSpan wait)
    {
        var now = DateTimeOffset.UtcNow;
        lock (_lock)
        {
            int soonest = _order[0];
            foreach (int c in _order)
            {
                if (_downUntil[c] <= now)
                {
                    wait = TimeSpan.Zero;
                    return c;
                }
                if (_downUntil[c] < _downUntil[soonest])
                {
                    soonest = c;
                }
            }
            wait = _downUntil[soonest] - now;
            return soonest;
        }
    }

    private void Down(int c)
    {
        lock (_lock)
        {
            var now = DateTimeOffset.UtcNow;
            if (_downUntil[c] > now)
            {
                return; // another attempt in flight found it down first
            }
            _failures[c]++;
            var backoff = TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, BaseBackoff.Ticks << Math.Min(_failures[c] - 1, 10)));
            _downUntil[c] = now + backoff;
        }
    }

    private void Up(int c)
    {
        lock (_lock)
        {
            _failures[c] = 0;
        }
    }

    public void Dispose()
    {
        foreach (var channel in _channels)
        {
            channel.Dispose();
        }
    }
}
