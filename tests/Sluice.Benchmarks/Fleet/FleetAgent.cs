using System.Collections.Concurrent;
using System.Diagnostics;
using Google.Protobuf;
using Grpc.Core;
using Sluice.Protocol.V1;

namespace Sluice.Benchmarks.Fleet;

/// <summary>A batch on the wire: its header (agent, sequence, ...) then a slice of the shared events (<see cref="FleetPayloads"/>).</summary>
internal sealed record FleetBody(byte[] Header, ReadOnlyMemory<byte> Events);

/// <summary>What the whole fleet saw, shared by its agents (touched on failures only, and once per agent at the end).</summary>
internal sealed class FleetCounters
{
    public readonly ConcurrentDictionary<StatusCode, long> Failed = new();
    public readonly ConcurrentDictionary<StatusCode, long> Refused = new();
    public long Heartbeats;
    /// <summary>Acknowledgements of a resend whose first attempt was stored (its answer lost to the attempt timeout).</summary>
    public long DuplicateAcks;
    /// <summary>The first failure of each status code, its detail: what to look at first.</summary>
    public readonly ConcurrentDictionary<StatusCode, string> FirstDetail = new();

    public void Fail(RpcException e)
    {
        Failed.AddOrUpdate(e.StatusCode, 1, (_, n) => n + 1);
        FirstDetail.TryAdd(e.StatusCode, e.Status.Detail + (e.Status.DebugException is { } inner ? " (" + inner.GetType().Name + ": " + inner.Message + ")" : ""));
    }
}

/// <summary>
/// One simulated agent: its identity, token and epoch; a batch every interval (from a random phase), the next one only
/// once the last is acknowledged, as the real agent's unary shipping does; a heartbeat every heartbeat interval. A
/// failed call is retried after a short pause (counted by status); a refused one is counted and set aside. An ack that
/// asks for a pace (<c>Ack.next_send_after_ms</c>, at most <see cref="MaxPace"/>) holds the next batch back until that
/// long after the ack, as the agent does: the batches due meanwhile are not lost but wait (in a real agent's spool) and
/// go out one per call afterwards, so the agent falls behind its schedule by as much. No thread of its own: two async
/// loops on timers.
/// </summary>
internal sealed class FleetAgent(string id, string token, CallInvoker invoker, FleetPayloads payloads, FleetOptions options, FleetCounters counters, int seed,
    double startMs = 0)
{
    internal static readonly Method<FleetBody, Ack> Send = new(
        MethodType.Unary, "sluice.v1.Ingest", "Send",
        Marshallers.Create<FleetBody>(
            static (body, context) => Collector.CollectorGrpcMeasurement.WriteTwoParts(body.Header, body.Events.Span, context),
            static _ => throw new NotSupportedException()),
        Marshallers.Create(a => a.ToByteArray(), Ack.Parser.ParseFrom));

    internal static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(15);

    /// <summary>The longest pace honoured: the agent's own cap on <c>Ack.next_send_after_ms</c> (a larger one waits this long).</summary>
    internal static TimeSpan MaxPace => Sluice.Agent.Shipping.Shipper.MaxPace;

    /// <summary>How long after an ack the next batch is held back for the pace it asked (0: not at all), as the agent honours it.</summary>
    internal static TimeSpan Pace(uint nextSendAfterMs) => Sluice.Agent.Shipping.Shipper.Honoured(nextSendAfterMs);

    private readonly CallOptions _call = new(new Metadata { { "authorization", "Bearer " + token } });
    private readonly Random _random = new(seed);
    private readonly string _epoch = Guid.NewGuid().ToString("N");
    private readonly long _started = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    public string Id => id;
    public long LastAcked { get; private set; }
    public long EventsAcked { get; private set; }
    /// <summary>Milliseconds from each batch's first attempt to its acknowledgement.</summary>
    public List<float> LatencyMs { get; } = [];
    /// <summary>
    /// The batch still unanswered when the grace after the stop ran out (0: none): it may or may not be stored, as for an
    /// agent stopped with a call in flight, which sends it again when it starts.
    /// </summary>
    public long Unfinished { get; private set; }
    /// <summary>
    /// How far behind its schedule the agent was when the run stopped (ms; 0 if on time): how long the first batch due
    /// and not yet sent had been due. The batches due by then and not sent are what waits in a real agent's spool.
    /// </summary>
    public double FinalLagMs { get; private set; }
    /// <summary>Acks that asked for a pace (<c>next_send_after_ms</c> above 0).</summary>
    public long PacedAcks { get; private set; }
    /// <summary>The pace each of those acks asked (ms, as asked: above <see cref="MaxPace"/> only <see cref="MaxPace"/> is waited).</summary>
    public List<float> PaceAskedMs { get; } = [];
    /// <summary>Batches sent later than they would have been without a pace: the pace, not the schedule or the last ack, set their time.</summary>
    public long DeferredBatches { get; private set; }

    /// <summary>The <see cref="Stopwatch"/> timestamp before which the next batch may not go out (the last ack's time plus its pace).</summary>
    private long _pacedUntil;

    /// <summary>Batches until <paramref name="stop"/>; the call in flight then still finishes (within <paramref name="grace"/>).</summary>
    public async Task RunBatchesAsync(long startTimestamp, CancellationToken stop, CancellationToken grace)
    {
        double intervalTicks = options.BatchIntervalMs * Stopwatch.Frequency / 1000.0;
        // The schedule: when the next batch is due. A pace delays when it goes out, never the schedule, so that the
        // batches held back are still sent, one per call, and the lag shows them.
        double next = startTimestamp + startMs * Stopwatch.Frequency / 1000.0 + _random.NextDouble() * intervalTicks;
        long stoppedAt = 0;
        using var stopped = stop.Register(() => Volatile.Write(ref stoppedAt, Stopwatch.GetTimestamp()));
        while (true)
        {
            bool deferred = _pacedUntil > Math.Max(next, Stopwatch.GetTimestamp());
            if (!await WaitUntilAsync(Math.Max(next, _pacedUntil), stop))
            {
                break;
            }
            if (deferred)
            {
                DeferredBatches++;
            }
            await SendOneAsync(grace);
            next += intervalTicks;
        }
        // At the stop, not after the call then in flight finished (the first batch not sent is the one due at next).
        long end = Volatile.Read(ref stoppedAt);
        FinalLagMs = Math.Max(0, ((end != 0 ? end : Stopwatch.GetTimestamp()) - next) * 1000.0 / Stopwatch.Frequency);
    }

    /// <summary>Batches one after the other, no schedule: the warm-up before the idle RSS is read.</summary>
    public async Task SendBatchesAsync(int count)
    {
        for (int i = 0; i < count; i++)
        {
            await WaitUntilAsync(_pacedUntil, CancellationToken.None);
            await SendOneAsync(CancellationToken.None);
        }
    }

    /// <summary>
    /// Until the <see cref="Stopwatch"/> timestamp <paramref name="at"/>, no sooner (a timer may fire a millisecond early:
    /// it is waited again); false if <paramref name="stop"/> came first.
    /// </summary>
    private static async Task<bool> WaitUntilAsync(double at, CancellationToken stop)
    {
        long now;
        while ((now = Stopwatch.GetTimestamp()) < at)
        {
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(Math.Max((at - now) / Stopwatch.Frequency, 0.001)), stop);
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }
        return !stop.IsCancellationRequested;
    }

    private async Task SendOneAsync(CancellationToken grace)
    {
        int size = FleetBatchSizes.Next(_random, options.BatchMedian, options.BurstEvery, options.BurstSize, payloads.Count);
        int first = _random.Next(payloads.Count - size + 1);
        long sequence = LastAcked + 1;
        long createdMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var header = new EventBatch
        {
            AgentId = id,
            Hostname = id + ".fleet",
            BootId = "5e1f0c1a-0000-4000-8000-000000000002",
            Sequence = (ulong)sequence,
            Epoch = _epoch,
            EpochStartSequence = 1,
            CreatedUnixMs = createdMs,
            IntervalStartUnixMs = createdMs - options.BatchIntervalMs,
            IntervalEndUnixMs = createdMs,
            RulesHash = "sha256:fleet",
        }.ToByteArray();
        var body = new FleetBody(header, payloads.Slice(first, size));
        long t0 = Stopwatch.GetTimestamp();
        while (!grace.IsCancellationRequested)
        {
            try
            {
                // The agent's per-attempt timeout (Shipping:AttemptTimeout, 15 s): a call not answered by then is given up and resent.
                var ack = await invoker.AsyncUnaryCall(Send, null, _call.WithCancellationToken(grace).WithDeadline(DateTime.UtcNow + AttemptTimeout), body);
                if (ack.Sequence != (ulong)sequence || (!ack.Duplicate && ack.EventsStored != size))
                {
                    throw new InvalidOperationException($"{id}: batch {sequence} of {size} events acknowledged as {ack}");
                }
                if (ack.NextSendAfterMs > 0)
                {
                    _pacedUntil = Stopwatch.GetTimestamp() + (long)(Pace(ack.NextSendAfterMs).TotalSeconds * Stopwatch.Frequency);
                    PacedAcks++;
                    PaceAskedMs.Add(ack.NextSendAfterMs);
                }
                LastAcked = sequence;
                // A duplicate's events are stored (once, by the attempt that timed out).
                EventsAcked += size;
                if (ack.Duplicate)
                {
                    Interlocked.Increment(ref counters.DuplicateAcks);
                }
                LatencyMs.Add((float)Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                return;
            }
            catch (RpcException e) when (e.StatusCode is StatusCode.InvalidArgument or StatusCode.AlreadyExists or StatusCode.PermissionDenied or StatusCode.Unauthenticated)
            {
                // Set aside, as the agent does: its sequence is used and the next batch goes on after it.
                counters.Refused.AddOrUpdate(e.StatusCode, 1, (_, n) => n + 1);
                LastAcked = sequence;
                return;
            }
            catch (RpcException e) when (!grace.IsCancellationRequested)
            {
                counters.Fail(e);
                await Task.Delay(e.StatusCode == StatusCode.ResourceExhausted ? 1000 : 200, CancellationToken.None);
            }
            catch (RpcException)
            {
                break;
            }
        }
        Unfinished = sequence;
    }

    /// <summary>A heartbeat at a random moment of the agent's first batch interval (as an agent starting), then every heartbeat interval.</summary>
    public async Task RunHeartbeatsAsync(CancellationToken stop)
    {
        var client = new Sluice.Protocol.V1.Ingest.IngestClient(invoker);
        try
        {
            await Task.Delay(TimeSpan.FromMilliseconds(startMs + _random.NextDouble() * options.BatchIntervalMs), stop);
            while (!stop.IsCancellationRequested)
            {
                var heartbeat = new AgentHeartbeat
                {
                    AgentId = id,
                    Hostname = id + ".fleet",
                    BootId = "5e1f0c1a-0000-4000-8000-000000000002",
                    Version = "fleet-sim",
                    TimeUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
                    StartedUnixMs = _started,
                    Mode = "unicast",
                    RulesHash = "sha256:fleet",
                    RulesCount = 12,
                    LossTotals = new LossCounters(),
                    Epoch = _epoch,
                };
                try
                {
                    await client.HeartbeatAsync(heartbeat, _call.WithCancellationToken(stop).WithDeadline(DateTime.UtcNow + AttemptTimeout));
                    Interlocked.Increment(ref counters.Heartbeats);
                }
                catch (RpcException e) when (!stop.IsCancellationRequested)
                {
                    if (e.StatusCode is StatusCode.InvalidArgument or StatusCode.PermissionDenied or StatusCode.Unauthenticated)
                    {
                        counters.Refused.AddOrUpdate(e.StatusCode, 1, (_, n) => n + 1);
                    }
                    else
                    {
                        counters.Fail(e);
                    }
                }
                await Task.Delay(TimeSpan.FromSeconds(options.HeartbeatSeconds), stop);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (RpcException) when (stop.IsCancellationRequested)
        {
        }
    }
}
