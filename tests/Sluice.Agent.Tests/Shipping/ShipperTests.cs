using Grpc.Core;
using Sluice.Agent.Shipping;
using Sluice.Agent.Tests.Spool;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Tests.Shipping;

/// <summary>The shipper against a real gRPC collector on 127.0.0.1, with scripted faults.</summary>
public sealed class ShipperTests
{
    [Fact]
    public async Task RunAsync_HealthyCollector_StoresEveryBatchOnceGzipCompressed()
    {
        await using var collector = await TestCollector.StartAsync();
        // A generous attempt timeout: no attempt may be abandoned, so calls are counted exactly.
        await using var harness = ShippingHarness.Create(collector, o =>
        {
            o.AttemptTimeout = TimeSpan.FromSeconds(30);
            o.Compression = ShippingCompression.Gzip;
        });
        for (int i = 0; i < 50; i++)
        {
            harness.Append(1 + i % 7);
        }
        harness.Start();
        await harness.WaitForEmptySpoolAsync();
        harness.AssertStoredExactlyOnce(collector);
        Assert.Equal(50, collector.Calls);
        Assert.Equal(0, harness.Shipper.Status.Retries);
        Assert.All(collector.RequestEncodings, e => Assert.Equal("gzip", e));
        var status = harness.Shipper.Status;
        Assert.Equal(50, status.AckedBatches);
        Assert.Equal(harness.Appended.Values.Sum(v => v.Length), status.AckedEvents);
        Assert.Equal(ShipperState.Running, status.State);
        Assert.Equal(0, harness.Spool.Counters.DepthBatches);
    }

    [Fact]
    public async Task RunAsync_Defaults_SentUncompressed()
    {
        await using var collector = await TestCollector.StartAsync();
        await using var harness = ShippingHarness.Create(collector, o => o.AttemptTimeout = TimeSpan.FromSeconds(30));
        for (int i = 0; i < 5; i++)
        {
            harness.Append(3);
        }
        harness.Start();
        await harness.WaitForEmptySpoolAsync();
        harness.AssertStoredExactlyOnce(collector);
        Assert.Equal(5, collector.RequestEncodings.Count);
        Assert.All(collector.RequestEncodings, e => Assert.Equal("identity", e));
    }

    [Fact]
    public async Task RunAsync_ScriptedFaults_EveryBatchStoredExactlyOnceWithItsEvents()
    {
        await using var collector = await TestCollector.StartAsync();
        collector.SlowDelay = TimeSpan.FromSeconds(2); // past the 1 s attempt timeout
        collector.FaultFor = static (sequence, attempt) => (sequence % 10, attempt) switch
        {
            (1, 1) => Fault.Unavailable,
            (2, 1) or (2, 2) => Fault.Internal,
            (3, 1) => Fault.ResourceExhaustedWithHint,
            (4, 1) => Fault.CutAfterStore,
            (5, 1) => Fault.CutBeforeStore,
            (6, 1) when sequence < 30 => Fault.SlowAfterStore,
            (7, 1) or (7, 2) or (7, 3) => Fault.Unavailable,
            _ => Fault.None,
        };
        await using var harness = ShippingHarness.Create(collector);
        for (int i = 0; i < 100; i++)
        {
            harness.Append(1 + i % 5);
        }
        harness.Start();
        // More batches while shipping is under way.
        for (int i = 0; i < 50; i++)
        {
            harness.Append(3);
        }
        await harness.WaitForEmptySpoolAsync();

        harness.AssertStoredExactlyOnce(collector);
        // The faults happened: resends reached the collector and were deduplicated.
        Assert.True(collector.Duplicates >= 15 + 3, $"duplicates {collector.Duplicates}");
        // At least the scripted failures plus the success (a slow machine may add a timed-out attempt).
        Assert.True(collector.AttemptsFor(12) >= 3, $"attempts for 12: {collector.AttemptsFor(12)}");
        Assert.True(collector.AttemptsFor(13) >= 2, $"attempts for 13: {collector.AttemptsFor(13)}");
        Assert.True(collector.AttemptsFor(17) >= 4, $"attempts for 17: {collector.AttemptsFor(17)}");
        var status = harness.Shipper.Status;
        Assert.Equal(150, status.AckedBatches);
        Assert.True(status.Retries >= 15 * 4 + 15 * 2, $"retries {status.Retries}");
        Assert.Equal(collector.Duplicates, status.DuplicateAcks);
    }

    [Fact]
    public async Task RunAsync_CollectorDownThenUp_DeliversEverythingOnce()
    {
        await using var collector = TestCollector.NotListening();
        await using var harness = ShippingHarness.Create(collector);
        for (int i = 0; i < 30; i++)
        {
            harness.Append(2);
        }
        harness.Start();
        await ShippingHarness.WaitForAsync(() => harness.Shipper.Status.Retries >= 10, "retries while down");
        Assert.Equal(ShipperState.Retrying, harness.Shipper.Status.State);
        Assert.Equal(30, harness.Spool.Counters.DepthBatches);
        Assert.Contains("Unavailable", harness.Shipper.Status.LastError);

        await collector.StartAsync();
        for (int i = 0; i < 10; i++)
        {
            harness.Append(2);
        }
        await harness.WaitForEmptySpoolAsync();
        harness.AssertStoredExactlyOnce(collector);
    }

    [Fact]
    public async Task RunAsync_CollectorStopsWithCallsInFlight_DeliversEverythingOnceAfterRestart()
    {
        await using var collector = await TestCollector.StartAsync();
        collector.SlowDelay = TimeSpan.FromMilliseconds(800);
        collector.FaultFor = static (_, attempt) => attempt == 1 ? Fault.SlowAfterStore : Fault.None;
        await using var harness = ShippingHarness.Create(collector, o => o.AttemptTimeout = TimeSpan.FromSeconds(5));
        for (int i = 0; i < 20; i++)
        {
            harness.Append(4);
        }
        harness.Start();
        await collector.WaitForStoredAsync(2, ShippingHarness.Patience);
        // Cut every connection while the first window of calls waits for its acks.
        await collector.StopAsync();
        Assert.True(harness.Spool.Counters.DepthBatches > 0);
        collector.FaultFor = null;
        await collector.StartAsync();
        await harness.WaitForEmptySpoolAsync();
        harness.AssertStoredExactlyOnce(collector);
        Assert.True(collector.Duplicates >= 1, "a batch stored before the cut was sent again and deduplicated");
    }

    [Fact]
    public async Task RunAsync_BatchRefusedAsInvalid_QuarantinedWithReasonAndTheRestDelivered()
    {
        await using var collector = await TestCollector.StartAsync();
        collector.FaultFor = static (sequence, _) => sequence switch
        {
            3 => Fault.InvalidArgument,
            7 => Fault.ResourceExhaustedNoHint,
            _ => Fault.None,
        };
        // No attempt may time out here: the refusals are counted exactly.
        await using var harness = ShippingHarness.Create(collector, o => o.AttemptTimeout = TimeSpan.FromSeconds(30));
        for (int i = 0; i < 10; i++)
        {
            harness.Append(2);
        }
        harness.Start();
        await harness.WaitForEmptySpoolAsync();

        harness.AssertStoredExactlyOnce(collector, harness.Appended.Keys.Where(s => s is not 3 and not 7));
        Assert.Equal(1, collector.AttemptsFor(3)); // refused, not retried
        Assert.Equal(1, collector.AttemptsFor(7));
        string quarantine = harness.ShipperOptions.QuarantineDirectory;
        var batch = EventBatch.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(quarantine, "00000000000000000003.batch")));
        Assert.Equal(harness.Appended[3], batch.Events.Select(e => e.Serial));
        string reason = File.ReadAllText(Path.Combine(quarantine, "00000000000000000003.reason"));
        Assert.Contains("status InvalidArgument", reason);
        Assert.Contains("events[0].serial is 0", reason);
        Assert.Contains("status ResourceExhausted", File.ReadAllText(Path.Combine(quarantine, "00000000000000000007.reason")));
        Assert.Equal(2, harness.Shipper.Status.QuarantinedBatches);
        Assert.Equal(8, harness.Shipper.Status.AckedBatches);
    }

    [Fact]
    public async Task RunAsync_WrongToken_StopsShippingReportsItAndResumesWhenTheTokenFileIsFixed()
    {
        await using var collector = await TestCollector.StartAsync();
        using var tokenDir = new TempDirectory("sluice-token");
        string tokenFile = Path.Combine(tokenDir.Path, "token");
        File.WriteAllText(tokenFile, "wrong-token\n");
        File.SetUnixFileMode(tokenFile, UnixFileMode.UserRead | UnixFileMode.UserWrite); // a token file others can read is refused
        await using var harness = ShippingHarness.Create(collector, o =>
        {
            o.Token = null;
            o.TokenFile = tokenFile;
        });
        for (int i = 0; i < 5; i++)
        {
            harness.Append(1);
        }
        harness.Start();
        await ShippingHarness.WaitForAsync(() => harness.Shipper.Status.State == ShipperState.AuthenticationFailed, "authentication failure");
        var status = harness.Shipper.Status;
        Assert.Contains("Unauthenticated", status.LastError);
        Assert.Contains("unknown agent token", status.LastError);
        Assert.Empty(collector.Stored);
        Assert.Equal(5, harness.Spool.Counters.DepthBatches);
        Assert.Equal(0, status.Retries); // refused credentials are not retried by the pipeline

        File.WriteAllText(tokenFile, collector.Token + "\n");
        await harness.WaitForEmptySpoolAsync();
        harness.AssertStoredExactlyOnce(collector);
        Assert.Equal(ShipperState.Running, harness.Shipper.Status.State);
    }

    [Fact]
    public async Task RunAsync_StoppedWhileAuthenticationFailed_EndsCleanlyAndKeepsTheBatches()
    {
        await using var collector = await TestCollector.StartAsync();
        await using var harness = ShippingHarness.Create(collector, o =>
        {
            o.Token = "wrong-token";
            o.StallProbeInterval = TimeSpan.FromMinutes(10);
        });
        harness.Append(1);
        harness.Start();
        await ShippingHarness.WaitForAsync(() => harness.Shipper.Status.State == ShipperState.AuthenticationFailed, "authentication failure");
        await harness.StopAsync(); // throws if RunAsync faulted
        Assert.Equal(ShipperState.Stopped, harness.Shipper.Status.State);
        Assert.Equal(1, harness.Spool.Counters.DepthBatches);
    }

    [Fact]
    public async Task RunAsync_CollectorAnswersUnimplemented_StallsWithoutLosingBatches()
    {
        await using var collector = await TestCollector.StartAsync();
        collector.FaultFor = static (_, _) => Fault.Unimplemented;
        await using var harness = ShippingHarness.Create(collector);
        harness.Append(1);
        harness.Append(1);
        harness.Start();
        await ShippingHarness.WaitForAsync(() => harness.Shipper.Status.State == ShipperState.Stalled, "stall");
        Assert.Contains("Unimplemented", harness.Shipper.Status.LastError);
        Assert.Equal(2, harness.Spool.Counters.DepthBatches);
        collector.FaultFor = null;
        await harness.WaitForEmptySpoolAsync();
        harness.AssertStoredExactlyOnce(collector);
    }

    [Fact]
    public async Task RunAsync_AckForAnotherSequence_StallsAndResendsWithoutLosingTheBatch()
    {
        await using var collector = await TestCollector.StartAsync();
        await using var harness = ShippingHarness.Create(collector, intercepted: true);
        // The collector stores batch 2, but the first ack the agent gets for it names another sequence.
        harness.Client!.OnSend = static async (sequence, attempt, send) =>
        {
            var ack = await send();
            return sequence == 2 && attempt == 1 ? new Ack(ack) { Sequence = 99 } : ack;
        };
        for (int i = 0; i < 3; i++)
        {
            harness.Append(2);
        }
        harness.Start();
        await harness.WaitForEmptySpoolAsync();

        harness.AssertStoredExactlyOnce(collector);
        var status = harness.Shipper.Status;
        Assert.Equal($"batch 2: an ack for sequence 99, from {collector.Url}", status.LastError);
        Assert.Equal(3, status.AckedBatches);
        Assert.True(collector.AttemptsFor(2) >= 2, $"attempts for 2: {collector.AttemptsFor(2)}");
        Assert.True(collector.Duplicates >= 1, $"duplicates {collector.Duplicates}");
    }

    [Fact]
    public async Task RunAsync_AgentRestartMidway_ResendsOnlyWhatWasNotAcknowledged()
    {
        await using var collector = await TestCollector.StartAsync();
        await using var harness = ShippingHarness.Create(collector, configureSpool: s => s.AckPersistInterval = TimeSpan.Zero);
        for (int i = 0; i < 20; i++)
        {
            harness.Append(2);
        }
        harness.Start();
        await harness.WaitForEmptySpoolAsync();
        await harness.RestartAsync();
        for (int i = 0; i < 20; i++)
        {
            harness.Append(2);
        }
        harness.Start();
        await harness.WaitForEmptySpoolAsync();
        harness.AssertStoredExactlyOnce(collector);
        Assert.Equal(0, collector.Duplicates);
        Assert.Equal(new ulong[] { 21, 40 }, new[] { harness.Appended.Keys.Where(s => s > 20).Min(), harness.Appended.Keys.Max() });
    }

    [Theory]
    [InlineData(StatusCode.Unavailable, true)]
    [InlineData(StatusCode.DeadlineExceeded, true)]
    [InlineData(StatusCode.Aborted, true)]
    [InlineData(StatusCode.Internal, true)]
    [InlineData(StatusCode.ResourceExhausted, false)] // without a pushback hint: too large, refused
    [InlineData(StatusCode.InvalidArgument, false)]
    [InlineData(StatusCode.AlreadyExists, false)]
    [InlineData(StatusCode.Unauthenticated, false)]
    [InlineData(StatusCode.PermissionDenied, false)]
    [InlineData(StatusCode.Unknown, false)]
    [InlineData(StatusCode.Unimplemented, false)]
    public void IsTransient_StatusCode_OnlyTransientCodesRetried(StatusCode code, bool transient)
    {
        Assert.Equal(transient, ShippingResilience.IsTransient(new RpcException(new Grpc.Core.Status(code, "x"))));
    }

    [Fact]
    public void IsTransient_ResourceExhaustedWithPushback_RetriedAfterTheHint()
    {
        var e = new RpcException(new Grpc.Core.Status(StatusCode.ResourceExhausted, "busy"), new Metadata { { ShippingResilience.PushbackTrailer, "250" } });
        Assert.True(ShippingResilience.IsTransient(e));
        Assert.Equal(TimeSpan.FromMilliseconds(250), ShippingResilience.ServerDelay(e));
    }
}
