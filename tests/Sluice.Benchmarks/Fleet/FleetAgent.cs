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
/// failed call is retried after a short pause (counted by status); a refused one is counted and set aside. No thread
/// of its own: two async loops on timers.
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
    /// <summary>How far behind its schedule the agent was when the run stopped (ms; 0 if on time).</summary>
    public double FinalLagMs { get; private set; }

    /// <summary>Batches until <paramref name="stop"/>; the call in flight then still finishes (within <paramref name="grace"/>).</summary>
    public async Task RunBatchesAsync(long startTimestamp, CancellationToken stop, CancellationToken grace)
    {
        double intervalTicks = options.BatchIntervalMs * Stopwatch.Frequency / 1000.0;
        double next = startTimestamp + startMs * Stopwatch.Frequency / 1000.0 + _random.NextDouble() * intervalTicks;
        while (true)
        {
            long now = Stopwatch.GetTimestamp();
            if (next > now)
            {
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds((next - now) / Stopwatch.Frequency), stop);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
            if (stop.IsCancellationRequested)
            {
                break;
            }
            await SendOneAsync(grace);
            next += intervalTicks;
        }
        FinalLagMs = Math.Max(0, (Stopwatch.GetTimestamp() - next) * 1000.0 / Stopwatch.Frequency);
    }

    /// <summary>Batches one after the other, no schedule: the warm-up before the idle RSS is read.</summary>
    public async Task SendBatchesAsync(int count)
    {
        for (int i = 0; i < count; i++)
        {
            await SendOneAsync(CancellationToken.None);
        }
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
