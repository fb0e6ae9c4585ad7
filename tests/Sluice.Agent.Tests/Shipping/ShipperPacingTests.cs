using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Sluice.Agent.Monitoring;
using Sluice.Agent.Shipping;
using Sluice.Agent.Spool;
using Sluice.Agent.Tests.Monitoring;
using Sluice.Agent.Tests.Spool;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Tests.Shipping;

/// <summary>
/// Pacing by the collector (Ack.next_send_after_ms): the shipper against a fake collector behind
/// <see cref="IIngestClient"/> whose calls the test holds and releases, on a fake clock, so that
/// "not before" is exact; and once against a real gRPC collector on the real clock.
/// </summary>
public sealed class ShipperPacingTests : IAsyncDisposable
{
    private const string Url = "http://127.0.0.1:7001";

    private readonly TempDirectory _dir = new("sluice-pacing");
    private readonly TimerRecordingTimeProvider _time = new();
    private readonly PacingCollectorClient _client = new();
    private readonly ListLogger<Shipper> _log = new();
    private DiskSpool? _spool;
    private Shipper? _shipper;
    private CancellationTokenSource? _cts;
    private Task? _run;
    private ulong _nextSerial = 1;

    private Shipper Create(int maxInFlight = 4)
    {
        var options = new ShipperOptions
        {
            CollectorUrl = Url,
            AllowInsecureTransport = true,
            Token = "pacing-test-token",
            // No attempt times out on the fake clock, however far a test moves it.
            AttemptTimeout = TimeSpan.FromMinutes(10),
            MaxInFlight = maxInFlight,
            QuarantineDirectory = Path.Combine(_dir.Path, "quarantine"),
        };
        _spool = DiskSpool.Open(new SpoolOptions
        {
            Directory = Path.Combine(_dir.Path, "spool"),
            MaxBytes = 64L * 1024 * 1024,
            SegmentBytes = 1024 * 1024,
            AckPersistInterval = TimeSpan.Zero,
        });
        _shipper = new Shipper(_spool, options, _client, _time, _log);
        return _shipper;
    }

    private void Append(int batches)
    {
        for (int i = 0; i < batches; i++)
        {
            _spool!.Append(TestBatches.Create(_nextSerial, 2));
            _nextSerial += 2;
        }
    }

    private void Start()
    {
        _cts = new CancellationTokenSource();
        _run = _shipper!.RunAsync(_cts.Token);
    }

    private static Task WaitForAsync(Func<bool> condition, string what) => ShippingHarness.WaitForAsync(condition, what);

    /// <summary>Waits until the shipper has started its <paramref name="count"/>th wait for a pace (a timer of at most <see cref="Shipper.MaxPace"/>).</summary>
    private Task WaitForPaceTimerAsync(int count) =>
        WaitForAsync(() => _time.Timers.Count(t => t > TimeSpan.Zero && t <= Shipper.MaxPace) >= count, $"pace timer {count}");

    [Fact]
    public async Task RunAsync_AckWithPace_NoSendBeforeThePaceAndOneCallInFlight()
    {
        _client.Hold = true;
        _client.PaceFor = _ => 10_000;
        var shipper = Create(maxInFlight: 4);
        Append(20);
        Start();
        await WaitForAsync(() => _client.Sends.Count == 4, "the first window of four calls");

        _client.Release(1);
        await WaitForAsync(() => shipper.Status.AckedBatches == 1, "the first ack");
        // The calls in flight are still answered and applied while the pace runs.
        _client.Release(2, 3, 4);
        await WaitForPaceTimerAsync(1);
        Assert.Equal(4, shipper.Status.AckedBatches);
        Assert.Equal(new ulong[] { 1, 2, 3, 4 }, _client.Sends.Order());
        var t0 = _time.GetUtcNow();
        Assert.Equal(t0 + TimeSpan.FromSeconds(10), shipper.Status.PacedUntil);

        _time.Advance(TimeSpan.FromSeconds(10) - TimeSpan.FromMilliseconds(1));
        Assert.Equal(4, _client.Sends.Count);
        Assert.Equal(16, _spool!.Counters.DepthBatches);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        await WaitForAsync(() => _client.Sends.Count >= 5, "the send after the pace");

        // Paced: one call in flight with 15 batches waiting, however long its answer takes.
        _time.Advance(TimeSpan.FromMinutes(2));
        await WaitForAsync(() => shipper.Status.InFlight >= 1, "call 5 in flight");
        Assert.Equal(1, shipper.Status.InFlight);
        _client.Release(5);
        await WaitForAsync(() => shipper.Status.AckedBatches == 5, "ack 5");
        Assert.Equal(5, _client.Sends.Count);
        Assert.Equal(1, _client.MaxInFlightSince(5));
        // Ack 5 paced again, from its own arrival.
        await WaitForPaceTimerAsync(2);
        Assert.Equal(_time.GetUtcNow() + TimeSpan.FromSeconds(10), shipper.Status.PacedUntil);
        Assert.Equal(15, _spool.Counters.DepthBatches);
    }

    [Fact]
    public async Task RunAsync_AckWithZeroAfterPacing_FullWindowAgain()
    {
        _client.Hold = true;
        _client.PaceFor = s => s <= 4 ? 5_000u : 0;
        var shipper = Create(maxInFlight: 4);
        Append(12);
        Start();
        await WaitForAsync(() => _client.Sends.Count == 4, "the first window");
        _client.Release(1, 2, 3, 4);
        await WaitForPaceTimerAsync(1);
        Assert.Equal(4, _client.Sends.Count);
        _time.Advance(TimeSpan.FromSeconds(5));
        await WaitForAsync(() => _client.Sends.Count >= 5, "the send after the pace");
        await WaitForAsync(() => shipper.Status.InFlight >= 1, "call 5 in flight");
        Assert.Equal((5, 1), (_client.Sends.Count, shipper.Status.InFlight));

        // Ack 5 asks for no pace: four calls in flight at once again.
        _client.Release(5);
        await WaitForAsync(() => _client.InFlight == 4, "a full window");
        Assert.Equal(new ulong[] { 6, 7, 8, 9 }, _client.Sends.Skip(5).Order());
        var status = shipper.Status;
        Assert.Null(status.PacedUntil);
        Assert.Equal(0u, status.PaceMs);
        Assert.Equal(4, status.PacedAcks);
    }

    [Fact]
    public async Task RunAsync_LaterAckInTheWindowWithZero_EndsThePaceAtOnce()
    {
        _client.Hold = true;
        _client.PaceFor = s => s == 1 ? 30_000u : 0;
        var shipper = Create(maxInFlight: 4);
        Append(12);
        Start();
        await WaitForAsync(() => _client.Sends.Count == 4, "the first window");

        _client.Release(1);
        await WaitForAsync(() => shipper.Status.AckedBatches == 1, "ack 1");
        Assert.Equal(_time.GetUtcNow() + TimeSpan.FromSeconds(30), shipper.Status.PacedUntil);
        Assert.Equal(4, _client.Sends.Count);

        // Ack 2, already in flight, is applied after ack 1 and asks for nothing: the latest ack decides,
        // with the clock not moved at all.
        _client.Release(2);
        await WaitForAsync(() => _client.InFlight == 4, "a full window");
        Assert.Equal(new ulong[] { 3, 4, 5, 6 }, _client.Sends.Skip(2).Order());
        Assert.Null(shipper.Status.PacedUntil);
        Assert.Equal(1, shipper.Status.PacedAcks);
    }

    [Fact]
    public async Task RunAsync_PaceAboveTheCap_CutToTheCap()
    {
        _client.PaceFor = _ => uint.MaxValue; // about 50 days
        var shipper = Create(maxInFlight: 1);
        Append(3);
        Start();
        await WaitForPaceTimerAsync(1);
        var status = shipper.Status;
        Assert.Equal(uint.MaxValue, status.PaceMs);
        Assert.Equal(_time.GetUtcNow() + Shipper.MaxPace, status.PacedUntil);
        Assert.Equal(60, status.PaceSeconds);

        _time.Advance(Shipper.MaxPace - TimeSpan.FromMilliseconds(1));
        Assert.Single(_client.Sends);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        await WaitForAsync(() => _client.Sends.Count == 2, "the send after the capped pace");
    }

    [Fact]
    public async Task RunAsync_StoppedDuringAPace_EndsAtOnceAndTheBatchesAreSentAfterRestart()
    {
        _client.PaceFor = _ => 600_000;
        var shipper = Create(maxInFlight: 4);
        Append(10);
        Start();
        await WaitForPaceTimerAsync(1);
        Assert.Equal(4, _client.Sends.Count);

        // The fake clock never moves: only the cancellation can end the wait.
        await _cts!.CancelAsync();
        await _run!.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(ShipperState.Stopped, shipper.Status.State);
        Assert.Null(shipper.Status.PacedUntil);
        Assert.Equal(6, _spool!.Counters.DepthBatches);

        // Restarted (a new shipper on the reopened spool), unpaced: the batches left are sent.
        shipper.Dispose();
        _spool.Dispose();
        _cts.Dispose();
        _client.PaceFor = _ => 0;
        Create(maxInFlight: 4);
        Start();
        await WaitForAsync(() => _spool!.Counters.DepthBatches == 0, "an empty spool after restart");
        Assert.Equal(new ulong[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, _client.Sends.Order());
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (ulong)i), _client.Stored.Keys.Order());
    }

    [Fact]
    public async Task Status_AndMetrics_ShowThePacingAndClearWhenItEnds()
    {
        _client.PaceFor = s => s <= 2 ? 10_000u : 0;
        var shipper = Create(maxInFlight: 1);
        using var metrics = new AgentMetrics(null, "Sluice.Agent.Test." + Guid.NewGuid().ToString("N")) { ShipperStatus = () => shipper.Status };
        Append(5);
        Start();
        await WaitForPaceTimerAsync(1);

        var status = shipper.Status;
        Assert.Equal((1L, 10_000u, (DateTimeOffset?)(_time.GetUtcNow() + TimeSpan.FromSeconds(10))), (status.PacedAcks, status.PaceMs, status.PacedUntil));
        var text = new StringWriter();
        Sluice.Agent.Cli.StatusCommand.WriteShipping(text, status, _time.GetUtcNow() + TimeSpan.FromSeconds(1.8));
        Assert.Contains("  paced       by the collector: next batch in 8.2 s (asked 10,000 ms, honoured 10 s; 1 acks paced since start)\n", text.ToString());
        string json = JsonSerializer.Serialize(new MetricsSnapshot { Shipping = status }, Sluice.Agent.Status.StatusJson.Default.MetricsSnapshot);
        using (var doc = JsonDocument.Parse(json))
        {
            var shipping = doc.RootElement.GetProperty("shipping");
            Assert.Equal(1, shipping.GetProperty("paced_acks").GetInt64());
            Assert.Equal(10_000u, shipping.GetProperty("pace_ms").GetUInt32());
            Assert.Equal(status.PacedUntil, shipping.GetProperty("paced_until").GetDateTimeOffset());
        }
        var measured = AgentInstrumentsTests.Collect(metrics.Meter);
        Assert.Equal((1.0, 10.0), (measured["sluice.shipper.paced_acks"], measured["sluice.shipper.pace"]));

        _time.Advance(TimeSpan.FromSeconds(10));
        await WaitForPaceTimerAsync(2);
        Assert.Equal(2, shipper.Status.PacedAcks);
        _time.Advance(TimeSpan.FromSeconds(10));
        await WaitForAsync(() => _spool!.Counters.DepthBatches == 0, "an empty spool");

        status = shipper.Status;
        Assert.Equal((2L, 0u, (DateTimeOffset?)null), (status.PacedAcks, status.PaceMs, status.PacedUntil));
        text = new StringWriter();
        Sluice.Agent.Cli.StatusCommand.WriteShipping(text, status, _time.GetUtcNow());
        Assert.DoesNotContain("paced", text.ToString());
        using (var doc = JsonDocument.Parse(JsonSerializer.Serialize(new MetricsSnapshot { Shipping = status }, Sluice.Agent.Status.StatusJson.Default.MetricsSnapshot)))
        {
            Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("shipping").GetProperty("paced_until").ValueKind);
        }
        measured = AgentInstrumentsTests.Collect(metrics.Meter);
        Assert.Equal((2.0, 0.0), (measured["sluice.shipper.paced_acks"], measured["sluice.shipper.pace"]));
        // Logged once when the pacing started and once when it ended, not per ack.
        Assert.Single(_log.Lines, l => l.Id.Id == 2115);
        var ended = Assert.Single(_log.Lines, l => l.Id.Id == 2116);
        Assert.Equal(LogLevel.Information, ended.Level);
        Assert.Contains($"The collector {Url} no longer paces this agent, after 2 paced acks", ended.Message);
    }

    [Fact]
    public async Task RunAsync_RealCollectorAnswersWithAPace_TheNextCallArrivesOnlyAfterIt()
    {
        const uint pace = 300;
        await using var collector = await TestCollector.StartAsync();
        collector.PaceFor = s => s <= 5 ? pace : 0;
        await using var harness = ShippingHarness.Create(collector, o => o.AttemptTimeout = TimeSpan.FromSeconds(30));
        for (int i = 0; i < 10; i++)
        {
            harness.Append(2);
        }
        harness.Start();
        await harness.WaitForEmptySpoolAsync();

        harness.AssertStoredExactlyOnce(collector);
        Assert.Equal(10, collector.Calls);
        var arrivals = collector.Arrivals.GroupBy(a => a.Sequence).ToDictionary(g => g.Key, g => g.First().At);
        // Batches 1-4 went together; acks 1-5 paced, so 5 left only a pace after the answer to 4,
        // and 6 a pace after the answer to 5 (a little slack for the clocks' granularity).
        foreach (ulong sequence in new ulong[] { 5, 6 })
        {
            var gap = Stopwatch.GetElapsedTime(collector.Answered[sequence - 1], arrivals[sequence]);
            Assert.True(gap >= TimeSpan.FromMilliseconds(pace - 20), $"batch {sequence} arrived {gap.TotalMilliseconds:0} ms after the paced answer to {sequence - 1}");
        }
        var status = harness.Shipper.Status;
        Assert.Equal(5, status.PacedAcks);
        Assert.Null(status.PacedUntil);
    }

    public async ValueTask DisposeAsync()
    {
        _client.ReleaseAll();
        if (_cts is not null)
        {
            await _cts.CancelAsync();
            await _run!.WaitAsync(ShippingHarness.Patience);
            _cts.Dispose();
        }
        _shipper?.Dispose();
        _spool?.Dispose();
        _dir.Dispose();
    }
}

/// <summary>A <see cref="FakeTimeProvider"/> that records the due time of every timer made on it, so a test can wait until the code under test waits.</summary>
internal sealed class TimerRecordingTimeProvider : FakeTimeProvider
{
    public ConcurrentQueue<TimeSpan> Timers { get; } = new();

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        Timers.Enqueue(dueTime);
        return base.CreateTimer(callback, state, dueTime, period);
    }
}

/// <summary>
/// A collector behind <see cref="IIngestClient"/> that stores batches by sequence and answers each with
/// the pace <see cref="PaceFor"/> gives; with <see cref="Hold"/>, each call waits until the test releases it.
/// </summary>
internal sealed class PacingCollectorClient : IIngestClient
{
    private readonly ConcurrentDictionary<ulong, TaskCompletionSource> _gates = new();
    private readonly Lock _lock = new();
    private readonly List<(ulong Sequence, int InFlight)> _starts = [];
    private int _inFlight;

    /// <summary>Calls wait for <see cref="Release"/> before they are answered.</summary>
    public bool Hold { get; set; }

    /// <summary>The pace each ack asks for (next_send_after_ms), from the batch sequence.</summary>
    public Func<ulong, uint> PaceFor { get; set; } = _ => 0;

    /// <summary>Sequences sent, one entry per call, in order.</summary>
    public ConcurrentQueue<ulong> Sends { get; } = new();

    /// <summary>Sequence → times it was stored (1, then duplicates).</summary>
    public ConcurrentDictionary<ulong, int> Stored { get; } = new();

    /// <summary>Calls started and not yet answered.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>The most calls in flight at once from the start of the call for <paramref name="sequence"/> on.</summary>
    public int MaxInFlightSince(ulong sequence)
    {
        lock (_lock)
        {
            int first = _starts.FindIndex(s => s.Sequence == sequence);
            return first < 0 ? 0 : _starts.Skip(first).Max(s => s.InFlight);
        }
    }

    public void Release(params ulong[] sequences)
    {
        foreach (ulong sequence in sequences)
        {
            Gate(sequence).TrySetResult();
        }
    }

    public void ReleaseAll()
    {
        Hold = false;
        foreach (var gate in _gates.Values)
        {
            gate.TrySetResult();
        }
    }

    public async Task<Ack> SendAsync(SpoolEntry batch, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            _starts.Add((batch.Sequence, Interlocked.Increment(ref _inFlight)));
        }
        Sends.Enqueue(batch.Sequence);
        try
        {
            if (Hold)
            {
                await Gate(batch.Sequence).Task.WaitAsync(cancellationToken);
            }
            int times = Stored.AddOrUpdate(batch.Sequence, 1, static (_, n) => n + 1);
            return new Ack { Sequence = batch.Sequence, Duplicate = times > 1, EventsStored = (uint)batch.EventCount, NextSendAfterMs = PaceFor(batch.Sequence) };
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    private TaskCompletionSource Gate(ulong sequence) => _gates.GetOrAdd(sequence, static _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

    public Task<HeartbeatReply> HeartbeatAsync(AgentHeartbeat heartbeat, TimeSpan timeout, CancellationToken cancellationToken) => Task.FromResult(new HeartbeatReply());

    public void SetToken(string token)
    {
    }
}
