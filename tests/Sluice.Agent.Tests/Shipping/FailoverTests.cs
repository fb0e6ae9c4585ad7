using System.Text.Json;
using Grpc.Core;
using Sluice.Agent.Monitoring;
using Sluice.Agent.Shipping;
using Sluice.Agent.Spool;
using Sluice.Agent.Tests.Spool;

namespace Sluice.Agent.Tests.Shipping;

/// <summary>
/// The shipper with two collectors behind fake <see cref="IIngestClient"/>s on one store: which
/// batches went where, exactly, when one fails, comes back, refuses a batch or the agent's credentials.
/// </summary>
public sealed class FailoverTests : IAsyncDisposable
{
    private const string UrlA = "http://127.0.0.1:7001";
    private const string UrlB = "http://127.0.0.1:7002";

    private readonly TempDirectory _dir = new("sluice-failover");
    private readonly FakeStore _store = new();
    private readonly FakeCollectorClient _a;
    private readonly FakeCollectorClient _b;
    private readonly ListLogger<Shipper> _log = new();
    private DiskSpool? _spool;
    private Shipper? _shipper;
    private CancellationTokenSource? _cts;
    private Task? _run;
    private ulong _nextSerial = 1;

    public FailoverTests()
    {
        _a = new FakeCollectorClient("A", _store);
        _b = new FakeCollectorClient("B", _store);
    }

    private List<ulong> Appended { get; } = [];

    private Shipper Create(Action<ShipperOptions>? configure = null)
    {
        var options = new ShipperOptions
        {
            CollectorUrls = [UrlA, UrlB],
            AllowInsecureTransport = true,
            Token = "failover-test-token",
            // A collector that fails stays down for minutes unless a test says otherwise, so
            // nothing is probed behind the test's back and the counts are exact.
            RetryBaseDelay = TimeSpan.FromMinutes(5),
            RetryMaxDelay = TimeSpan.FromMinutes(10),
            AttemptTimeout = TimeSpan.FromSeconds(30),
            StallProbeInterval = TimeSpan.FromMilliseconds(100),
            QuarantineDirectory = Path.Combine(_dir.Path, "quarantine"),
        };
        configure?.Invoke(options);
        _spool = DiskSpool.Open(new SpoolOptions { Directory = Path.Combine(_dir.Path, "spool"), MaxBytes = 64L * 1024 * 1024, SegmentBytes = 1024 * 1024 });
        _shipper = new Shipper(_spool, options, [_a, _b], logger: _log);
        return _shipper;
    }

    private void Append(int batches)
    {
        for (int i = 0; i < batches; i++)
        {
            var batch = TestBatches.Create(_nextSerial, 3);
            _nextSerial += 3;
            Appended.Add(_spool!.Append(batch));
        }
    }

    private void Start()
    {
        _cts = new CancellationTokenSource();
        _run = _shipper!.RunAsync(_cts.Token);
    }

    private async Task WaitForEmptySpoolAsync() =>
        await ShippingHarness.WaitForAsync(() => _spool!.Counters.DepthBatches == 0, $"an empty spool; shipper: {_shipper!.Status}");

    private static List<ulong> Range(ulong first, ulong last) => [.. Enumerable.Range((int)first, (int)(last - first + 1)).Select(i => (ulong)i)];

    /// <summary>
    /// Every appended batch is in the store once, was acknowledged by exactly one collector, and no
    /// collector was sent a batch after some collector had acknowledged it.
    /// </summary>
    private void AssertEachStoredOnceAndNeverSentAfterItsAck(IEnumerable<ulong>? expected = null)
    {
        var sequences = (expected ?? Appended).Order().ToList();
        Assert.Equal(sequences, _store.Batches.Keys.Select(k => k.Sequence).Order());
        Assert.Single(_store.Batches.Keys.Select(k => k.Epoch).Distinct());
        var log = _store.Log.OrderBy(l => l.Order).ToList();
        foreach (ulong sequence in sequences)
        {
            Assert.Equal(1, _a.Acks.Count(s => s == sequence) + _b.Acks.Count(s => s == sequence));
            var calls = log.Where(l => l.Sequence == sequence).ToList();
            int ack = calls.FindIndex(l => l.What is "stored" or "duplicate");
            Assert.True(ack == calls.Count - 1, $"batch {sequence} was answered after its ack: {string.Join(", ", calls.Select(c => $"{c.Collector} {c.What}"))}");
        }
        int sends = _a.Sends.Count + _b.Sends.Count;
        Assert.Equal(sends, log.Count(l => l.What != "stored, not answered"));
    }

    [Fact]
    public async Task RunAsync_BothUp_EveryBatchGoesToTheFirstCollector()
    {
        var shipper = Create(o => o.MaxInFlight = 4);
        Append(20);
        Start();
        await WaitForEmptySpoolAsync();

        Assert.Equal(Range(1, 20), _a.Sends.Order());
        Assert.Empty(_b.Sends);
        AssertEachStoredOnceAndNeverSentAfterItsAck();
        var status = shipper.Status;
        Assert.Equal(0, status.Retries);
        Assert.Equal([UrlA, UrlB], status.Collectors.Select(c => c.Url));
        Assert.Equal(["up", "up"], status.Collectors.Select(c => c.State));
        Assert.Equal([true, false], status.Collectors.Select(c => c.Current));
        Assert.Equal([20L, 0L], status.Collectors.Select(c => c.AckedBatches));
        Assert.Equal([60L, 0L], status.Collectors.Select(c => c.AckedEvents));
    }

    [Fact]
    public async Task RunAsync_FirstDiesWithBatchesInFlight_TheyAndTheRestGoToTheSecond_NothingAckedIsSentAgain()
    {
        var killed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _a.Behaviour = async (batch, attempt, ct) =>
        {
            if (batch.Sequence <= 8)
            {
                return;
            }
            // 9 to 12 are in flight when the collector dies; it had stored 10 already.
            await killed.Task.WaitAsync(ct);
            if (batch.Sequence == 10)
            {
                _a.Store(batch);
            }
            throw FakeCollectorClient.Status(StatusCode.Unavailable, "collector A killed");
        };
        var shipper = Create(o => o.MaxInFlight = 4);
        Append(30);
        Start();
        await ShippingHarness.WaitForAsync(() => Volatile.Read(ref _a.Waiting) == 4, "four batches in flight at A");
        Assert.Equal(Range(1, 12), _a.Sends.Order());
        Assert.Empty(_b.Sends);

        killed.SetResult();
        await WaitForEmptySpoolAsync();

        // A: 1..12 once each, acknowledged 1..8. B: the four in flight and everything after, once each.
        Assert.Equal(Range(1, 12), _a.Sends.Order());
        Assert.Equal(Range(1, 8), _a.Acks.Order());
        Assert.Equal(Range(9, 30), _b.Sends.Order());
        Assert.Equal(Range(9, 30), _b.Acks.Order());
        AssertEachStoredOnceAndNeverSentAfterItsAck();
        // 10 was stored by A before it died: B's store said so.
        Assert.Contains(_store.Log, l => l is { Collector: "B", Sequence: 10, What: "duplicate" });
        Assert.Single(_store.Log, l => l.What == "duplicate");

        var status = shipper.Status;
        Assert.Equal(4, status.Retries);
        Assert.Equal(30, status.AckedBatches);
        Assert.Equal(1, status.DuplicateAcks);
        var (a, b) = (status.Collectors[0], status.Collectors[1]);
        Assert.Equal(("down", false, 8L, 4L), (a.State, a.Current, a.AckedBatches, a.Failures));
        Assert.Contains("collector A killed", a.LastError);
        Assert.NotNull(a.RetryAt);
        Assert.Equal(("up", true, 22L, 0L, 1L), (b.State, b.Current, b.AckedBatches, b.Failures, b.DuplicateAcks));
        Assert.Single(_log.Lines, l => l.Id.Id == 2111 && l.Message.Contains(UrlA) && l.Message.Contains("sending to " + UrlB));
    }

    [Fact]
    public async Task RunAsync_DownCollectorComesBack_IsProbedAfterItsBackoffAndTakesTheBatchesAgain()
    {
        bool aDead = true;
        _a.Behaviour = (_, _, _) => Volatile.Read(ref aDead) ? Task.FromException(FakeCollectorClient.Status(StatusCode.Unavailable, "A down")) : Task.CompletedTask;
        var shipper = Create(o =>
        {
            o.MaxInFlight = 1;
            o.RetryBaseDelay = TimeSpan.FromMilliseconds(20);
            o.RetryMaxDelay = TimeSpan.FromMilliseconds(100);
        });
        Append(10);
        Start();
        await WaitForEmptySpoolAsync();
        Assert.Empty(_a.Acks);
        Assert.Equal(Range(1, 10), _b.Acks.Order());

        Volatile.Write(ref aDead, false);
        // One batch at a time until A has taken one: its probe, once its backoff ran out.
        await ShippingHarness.WaitForAsync(() =>
        {
            if (_spool!.Counters.DepthBatches == 0)
            {
                Append(1);
            }
            return !_a.Acks.IsEmpty;
        }, "collector A to take a batch again");
        await WaitForEmptySpoolAsync();
        ulong last = Appended.Max();
        Append(10);
        await WaitForEmptySpoolAsync();

        Assert.Equal(Range(last + 1, last + 10), _a.Acks.Where(s => s > last).Order());
        Assert.DoesNotContain(_b.Sends, s => s > last);
        AssertEachStoredOnceAndNeverSentAfterItsAck();
        var status = shipper.Status;
        Assert.Equal(["up", "up"], status.Collectors.Select(c => c.State));
        Assert.Equal([true, false], status.Collectors.Select(c => c.Current));
        Assert.Contains(_log.Lines, l => l.Id.Id == 2113 && l.Message.Contains(UrlA));
    }

    [Fact]
    public async Task RunAsync_BothDown_RetriesUntilOneComesBack_EverythingStoredOnce()
    {
        _a.Behaviour = (_, _, _) => Task.FromException(FakeCollectorClient.Status(StatusCode.Unavailable, "A down"));
        _b.Behaviour = (_, _, _) => Task.FromException(FakeCollectorClient.Status(StatusCode.Unavailable, "B down"));
        var shipper = Create(o =>
        {
            o.MaxInFlight = 4;
            o.RetryBaseDelay = TimeSpan.FromMilliseconds(10);
            o.RetryMaxDelay = TimeSpan.FromMilliseconds(50);
        });
        Append(12);
        Start();
        await ShippingHarness.WaitForAsync(() => shipper.Status.Retries >= 20, "retries while both are down");
        Assert.Equal(ShipperState.Retrying, shipper.Status.State);
        Assert.Equal(12, _spool!.Counters.DepthBatches);
        Assert.True(_a.Sends.Count > 1 && _b.Sends.Count > 1, $"A tried {_a.Sends.Count}, B {_b.Sends.Count}: both must be tried in turn");

        _b.Behaviour = null;
        await WaitForEmptySpoolAsync();

        AssertEachStoredOnceAndNeverSentAfterItsAck();
        Assert.Equal(12, _a.Acks.Count + _b.Acks.Count);
        Assert.Equal(0, shipper.Status.DuplicateAcks);
    }

    [Fact]
    public async Task RunAsync_BatchRefused_IsQuarantinedNotSentToTheOtherCollector()
    {
        _a.Behaviour = (batch, _, _) => batch.Sequence == 3
            ? Task.FromException(FakeCollectorClient.Status(StatusCode.InvalidArgument, "batch 3 breaks a rule"))
            : Task.CompletedTask;
        var shipper = Create(o => o.MaxInFlight = 2);
        Append(6);
        Start();
        await WaitForEmptySpoolAsync();

        Assert.Empty(_b.Sends);
        Assert.Equal(Range(1, 6), _a.Sends.Order());
        AssertEachStoredOnceAndNeverSentAfterItsAck([1, 2, 4, 5, 6]);
        Assert.True(File.Exists(Path.Combine(_dir.Path, "quarantine", "00000000000000000003.batch")));
        var status = shipper.Status;
        Assert.Equal(1, status.QuarantinedBatches);
        Assert.Equal(0, status.Retries);
        Assert.Equal((1L, "up"), (status.Collectors[0].RefusedBatches, status.Collectors[0].State));
        Assert.Contains("InvalidArgument", status.Collectors[0].LastError);
        Assert.Contains(_log.Lines, l => l.Id.Id == 2103 && l.Message.Contains(UrlA));
    }

    [Fact]
    public async Task RunAsync_OneCollectorRefusesTheCredentialsAnotherAccepts_StallsAsWithOneAndNamesBoth()
    {
        bool aDead = true;
        bool aRefuses = true;
        _a.Behaviour = (_, _, _) => Volatile.Read(ref aDead)
            ? Task.FromException(FakeCollectorClient.Status(StatusCode.Unavailable, "A down"))
            : Volatile.Read(ref aRefuses) ? Task.FromException(FakeCollectorClient.Status(StatusCode.Unauthenticated, "unknown token")) : Task.CompletedTask;
        string tokenFile = Path.Combine(_dir.Path, "agent.token");
        File.WriteAllText(tokenFile, "token-from-the-file\n");
        File.SetUnixFileMode(tokenFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var shipper = Create(o =>
        {
            o.MaxInFlight = 1;
            o.RetryBaseDelay = TimeSpan.FromMilliseconds(20);
            o.RetryMaxDelay = TimeSpan.FromMilliseconds(50);
            o.Token = null;
            o.TokenFile = tokenFile;
        });
        Append(5);
        Start();
        await WaitForEmptySpoolAsync();
        Assert.Equal(Range(1, 5), _b.Acks.Order());

        // A is back, but does not know this agent: once probed, shipping stops, as with one collector.
        Volatile.Write(ref aDead, false);
        await ShippingHarness.WaitForAsync(() => shipper.Status.Collectors[0].State == "probe due", "collector A's backoff to run out");
        Append(1);
        await ShippingHarness.WaitForAsync(() => shipper.Status.State == ShipperState.AuthenticationFailed, "authentication failure");
        int bSends = _b.Sends.Count;
        // Two probes more, both to A: B, which accepts the agent, is not used to get around the refusal.
        await ShippingHarness.WaitForAsync(() => _a.Sends.Count(s => s == 6) >= 3, "two more probes of A");
        Assert.Equal(bSends, _b.Sends.Count);
        Assert.DoesNotContain(6UL, _b.Sends);
        Assert.Equal(1, _spool!.Counters.DepthBatches);
        Assert.Contains(_log.Lines, l => l.Id.Id == 2114 && l.Message.Contains(UrlA) && l.Message.Contains(UrlB));
        Assert.Contains(_log.Lines, l => l.Id.Id == 2104 && l.Message.Contains(UrlA));
        Assert.Contains("Unauthenticated", shipper.Status.Collectors[0].LastError);
        Assert.Contains(UrlA, shipper.Status.LastError);
        // The token file, read again after the refusal, goes to every collector's client.
        Assert.Equal("token-from-the-file", _a.Token);
        Assert.Equal("token-from-the-file", _b.Token);

        Volatile.Write(ref aRefuses, false);
        await WaitForEmptySpoolAsync();
        Assert.Equal([6UL], _a.Acks);
        AssertEachStoredOnceAndNeverSentAfterItsAck();
        Assert.Equal(ShipperState.Running, shipper.Status.State);
    }

    [Fact]
    public async Task RunAsync_BreakerPerCollector_OpensForTheFailingOneOnly()
    {
        _a.Behaviour = (_, _, _) => Task.FromException(FakeCollectorClient.Status(StatusCode.Unavailable, "A down"));
        var shipper = Create(o =>
        {
            o.MaxInFlight = 2;
            o.RetryBaseDelay = TimeSpan.FromMilliseconds(1);
            o.RetryMaxDelay = TimeSpan.FromMilliseconds(2);
            o.BreakerMinimumThroughput = 2;
            o.BreakerFailureRatio = 0.5;
            o.BreakerSamplingDuration = TimeSpan.FromSeconds(5);
            o.BreakerBreakDuration = TimeSpan.FromSeconds(1);
        });
        Start();
        // Each probe of A fails; its breaker opens after two, B's never does.
        await ShippingHarness.WaitForAsync(() =>
        {
            if (_spool!.Counters.DepthBatches < 2)
            {
                Append(1);
            }
            return shipper.Status.Collectors[0].Breaker == "open";
        }, "collector A's breaker to open");
        var status = shipper.Status;
        Assert.Equal("closed", status.Collectors[1].Breaker);
        Assert.Equal(0, status.Collectors[1].Failures);
        await WaitForEmptySpoolAsync();
        Assert.Empty(_a.Acks);
        AssertEachStoredOnceAndNeverSentAfterItsAck();
    }

    [Fact]
    public async Task Heartbeat_FirstCollectorDown_GoesToTheNextInTheSameCallThenStraightThere()
    {
        _a.HeartbeatFault = () => FakeCollectorClient.Status(StatusCode.Unavailable, "A down");
        var shipper = Create();
        var sender = new HeartbeatSender(new AgentIdentity(TestBatches.AgentId, "host", "boot"), _spool!, shipper, TimeSpan.FromSeconds(5));
        var values = new HeartbeatValues { Version = "test", StartedAt = DateTimeOffset.UtcNow, Mode = "unicast" };

        Assert.NotNull(await sender.SendAsync(values, CancellationToken.None));
        Assert.Equal((1, 1), (_a.HeartbeatAttempts, _b.Heartbeats.Count));
        Assert.NotNull(await sender.SendAsync(values, CancellationToken.None));
        Assert.Equal((1, 2), (_a.HeartbeatAttempts, _b.Heartbeats.Count));

        var a = shipper.Status.Collectors[0];
        Assert.Equal(("down", 1L), (a.State, a.HeartbeatFailures));
        Assert.Contains("heartbeat: Unavailable", a.LastError);
        Assert.Equal((true, 2L), (shipper.Status.Collectors[1].Current, shipper.Status.Collectors[1].Heartbeats));
        Assert.Equal(0, sender.Failed);
    }

    [Fact]
    public async Task Heartbeat_CredentialsRefused_IsNotFailedOver()
    {
        _a.HeartbeatFault = () => FakeCollectorClient.Status(StatusCode.Unauthenticated, "unknown token");
        var shipper = Create();
        var sender = new HeartbeatSender(new AgentIdentity(TestBatches.AgentId, "host", "boot"), _spool!, shipper, TimeSpan.FromSeconds(5));

        Assert.Null(await sender.SendAsync(new HeartbeatValues { Version = "test", StartedAt = DateTimeOffset.UtcNow, Mode = "unicast" }, CancellationToken.None));
        Assert.Equal((1, 0), (_a.HeartbeatAttempts, _b.HeartbeatAttempts));
        Assert.Equal("up", shipper.Status.Collectors[0].State);
        Assert.Equal(1, sender.Failed);
    }

    [Fact]
    public async Task Status_TextAndJson_ShowEachCollectorItsStateAndTheCurrentOne()
    {
        _a.HeartbeatFault = () => FakeCollectorClient.Status(StatusCode.Unavailable, "A down");
        var shipper = Create();
        var sender = new HeartbeatSender(new AgentIdentity(TestBatches.AgentId, "host", "boot"), _spool!, shipper, TimeSpan.FromSeconds(5));
        await sender.SendAsync(new HeartbeatValues { Version = "test", StartedAt = DateTimeOffset.UtcNow, Mode = "unicast" }, CancellationToken.None);

        var text = new StringWriter();
        Sluice.Agent.Cli.StatusCommand.WriteShipping(text, shipper.Status);
        var lines = text.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("  shipping    Stopped", lines[0]);
        Assert.Contains($"collector   {UrlA} down since ", lines[1]);
        Assert.Contains("next try", lines[1]);
        Assert.Contains("last error", lines[1]);
        Assert.DoesNotContain("(current)", lines[1]);
        Assert.Contains($"collector   {UrlB} up since ", lines[2]);
        Assert.Contains("(current)", lines[2]);

        string json = JsonSerializer.Serialize(new MetricsSnapshot { Shipping = shipper.Status }, Sluice.Agent.Status.StatusJson.Default.MetricsSnapshot);
        using var doc = JsonDocument.Parse(json);
        var shipping = doc.RootElement.GetProperty("shipping");
        Assert.Equal("Stopped", shipping.GetProperty("state").GetString());
        var collectors = shipping.GetProperty("collectors").EnumerateArray().ToList();
        Assert.Equal([UrlA, UrlB], collectors.Select(c => c.GetProperty("url").GetString()));
        Assert.Equal(["down", "up"], collectors.Select(c => c.GetProperty("state").GetString()));
        Assert.Equal([false, true], collectors.Select(c => c.GetProperty("current").GetBoolean()));
        Assert.Equal([0L, 1L], collectors.Select(c => c.GetProperty("heartbeats").GetInt64()));
        var back = JsonSerializer.Deserialize(json, Sluice.Agent.Status.StatusJson.Default.MetricsSnapshot)!;
        Assert.Equal("down", back.Shipping!.Collectors[0].State);
    }

    public async ValueTask DisposeAsync()
    {
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
