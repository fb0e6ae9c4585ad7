using Grpc.Core;
using Sluice.Agent.Shipping;
using Sluice.Agent.Tests.Shipping;
using Sluice.Agent.Tests.Spool;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Tests.Adversarial;

/// <summary>
/// Issue 14, case 1, the agent's side: a spool whose state is gone starts again at sequence 1 (a
/// reinstall with purge, a damaged spool.state, a cloned machine). Its new batches carry a new
/// epoch, so the collector (keyed on agent, epoch, sequence) stores them instead of taking them
/// for resends; a key another spool already holds with other content is refused with
/// ALREADY_EXISTS, and the agent sets the batch aside, counts it and moves to a new epoch.
/// Against a real gRPC collector on 127.0.0.1 that stores as ingest.proto says.
/// </summary>
public sealed class SequenceResetTests
{
    private static List<ulong> Serials(TestCollector collector) =>
        collector.Stored.Values.SelectMany(b => b.Events).Select(e => e.Serial).Order().ToList();

    /// <summary>
    /// A shipper to <paramref name="collector"/> whose spool writes its state at every acknowledgement. No attempt
    /// may time out (the harness's 1 s can, on a loaded machine): duplicates are counted exactly here.
    /// </summary>
    private static ShippingHarness Harness(TestCollector collector) =>
        ShippingHarness.Create(collector, o => o.AttemptTimeout = TimeSpan.FromSeconds(30), configureSpool: s => s.AckPersistInterval = TimeSpan.Zero);

    /// <summary>Cuts <paramref name="batches"/> batches of <paramref name="events"/> events, ships them until the spool is empty, and returns the epoch they were cut under.</summary>
    private static async Task<string> ShipAllAsync(ShippingHarness harness, int batches, int events)
    {
        string epoch = harness.Spool.Epoch;
        for (int i = 0; i < batches; i++)
        {
            harness.Append(events);
        }
        harness.Start();
        await harness.WaitForEmptySpoolAsync();
        return epoch;
    }

    [Fact]
    public async Task SpoolPurged_NewBatchesFromSequenceOne_StoredUnderANewEpochNothingTakenForADuplicate()
    {
        await using var collector = await TestCollector.StartAsync();
        await using var harness = Harness(collector);
        string first = await ShipAllAsync(harness, 10, 3);
        // A resend after an attempt timed out on a loaded machine is a true duplicate; count from here.
        long duplicatesBefore = collector.Duplicates;

        // A reinstall with purge: the spool's state and segments are gone.
        await harness.RestartAsync(spool => Directory.Delete(spool, recursive: true));
        string second = harness.Spool.Epoch;
        Assert.NotEqual(first, second);
        Assert.Equal(1ul, harness.Spool.EpochStartSequence);
        var before = harness.Appended.ToDictionary();
        harness.Appended.Clear();
        for (int i = 0; i < 10; i++)
        {
            Assert.Equal((ulong)i + 1, harness.Append(2)); // sequences 1..10 again
        }
        harness.Start();
        await harness.WaitForEmptySpoolAsync();

        // Every batch of both spools is stored once, under its own epoch: 30 + 20 events.
        Assert.Equal(20, collector.Stored.Count);
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (ulong)i), collector.Stored.Keys.Where(k => k.Epoch == first).Select(k => k.Sequence).Order());
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (ulong)i), collector.Stored.Keys.Where(k => k.Epoch == second).Select(k => k.Sequence).Order());
        Assert.All(collector.Stored.Where(kv => kv.Key.Epoch == second), kv => Assert.Equal(1ul, kv.Value.EpochStartSequence));
        var expected = before.Values.Concat(harness.Appended.Values).SelectMany(s => s).Order().ToList();
        Assert.Equal(50, expected.Count);
        Assert.Equal(expected, Serials(collector));
        // No batch of the new epoch was taken for one of the old: any duplicate ack now is a resend of a
        // batch this shipper retried after it was stored (none on a quiet machine).
        Assert.Equal(harness.Shipper.Status.DuplicateAcks, collector.Duplicates - duplicatesBefore);
        Assert.True(harness.Shipper.Status.DuplicateAcks <= harness.Shipper.Status.Retries,
            $"{harness.Shipper.Status.DuplicateAcks} duplicate acks, {harness.Shipper.Status.Retries} retries");
        Assert.Equal(0, collector.Conflicts);
    }

    [Fact]
    public async Task StateFileDeleted_SegmentsKept_AcknowledgedBatchesResentAsTrueDuplicatesNewOnesStored()
    {
        await using var collector = await TestCollector.StartAsync();
        await using var harness = Harness(collector);
        string first = await ShipAllAsync(harness, 10, 3);

        await harness.RestartAsync(spool => File.Delete(Path.Combine(spool, "spool.state")));
        // The ten batches are still in the (open, never sealed) segment: without the state the spool
        // cannot know they were acknowledged, so it sends them again, with the epoch they were cut with.
        Assert.Equal(10, harness.Spool.Counters.DepthBatches);
        Assert.NotEqual(first, harness.Spool.Epoch);
        Assert.Equal(11ul, harness.Spool.EpochStartSequence);
        for (int i = 0; i < 5; i++)
        {
            harness.Append(2);
        }
        harness.Start();
        await harness.WaitForEmptySpoolAsync();

        harness.AssertStoredExactlyOnce(collector);
        Assert.Equal(15, collector.Stored.Count);
        // The resends are the same content under the same key: true duplicates, acknowledged.
        Assert.Equal(10, collector.Duplicates);
        Assert.Equal(10, harness.Shipper.Status.DuplicateAcks);
        Assert.Equal(0, collector.Conflicts);
        Assert.Equal(Enumerable.Range(11, 5).Select(i => (ulong)i), collector.Stored.Keys.Where(k => k.Epoch == harness.Spool.Epoch).Select(k => k.Sequence).Order());
    }

    [Fact]
    public async Task ClonedSpool_SameKeyOtherContent_RefusedQuarantinedCountedAndTheCloneMovesToANewEpoch()
    {
        await using var collector = await TestCollector.StartAsync();
        using var cloneDir = new TempDirectory("sluice-clone");
        // Machine A ships three batches.
        await using var a = ShippingHarness.Create(collector, o => o.AttemptTimeout = TimeSpan.FromSeconds(30), configureSpool: s => s.AckPersistInterval = TimeSpan.Zero);
        string epoch = await ShipAllAsync(a, 3, 2);
        await a.StopAsync();

        // Machine B is a clone of A, made now: same agent id, same spool (state and segments).
        string bSpool = Path.Combine(cloneDir.Path, "spool");
        await a.RestartAsync(spool => CopyDirectory(spool, bSpool));
        await using var b = ShippingHarness.Create(collector, o => o.AttemptTimeout = TimeSpan.FromSeconds(30), configureSpool: s =>
        {
            s.Directory = bSpool;
            s.AckPersistInterval = TimeSpan.Zero;
        });
        Assert.Equal((epoch, 4ul), (b.Spool.Epoch, b.Spool.Counters.NextSequence));

        // Each cuts its own batch 4 under the same epoch; A's reaches the collector first.
        Assert.Equal(4ul, a.Append(3));
        a.Start();
        await a.WaitForEmptySpoolAsync();
        await a.StopAsync();
        Assert.Equal(4ul, b.Append(5));
        Assert.Equal(5ul, b.Append(1));
        b.Start();
        await b.WaitForEmptySpoolAsync();

        // B's batch 4 is refused, once (not retried), and nothing of it is stored.
        Assert.Equal(1, collector.Conflicts);
        var refused = Assert.Single(collector.Conflicting);
        Assert.Equal((epoch, 4ul, 5), (refused.Epoch, refused.Sequence, refused.Events.Count));
        Assert.Equal(a.Appended[4], collector.Stored[(TestBatches.AgentId, epoch, 4)].Events.Select(e => e.Serial));
        var bStatus = b.Shipper.Status;
        Assert.Equal((1L, 1L, 0L), (bStatus.Conflicts, bStatus.QuarantinedBatches, bStatus.DuplicateAcks));
        // It is in B's quarantine, with the server's reason.
        string quarantine = b.ShipperOptions.QuarantineDirectory;
        var kept = EventBatch.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(quarantine, "00000000000000000004.batch")));
        Assert.Equal(b.Appended[4], kept.Events.Select(e => e.Serial));
        string reason = File.ReadAllText(Path.Combine(quarantine, "00000000000000000004.reason"));
        Assert.Contains("status AlreadyExists", reason);
        Assert.Contains($"epoch {epoch}", reason);
        Assert.Contains("events 5", reason);
        Assert.Contains("other content", reason);

        // B's batch 5 was cut before the refusal: it keeps the old epoch (A never used that key).
        Assert.Equal(b.Appended[5], collector.Stored[(TestBatches.AgentId, epoch, 5)].Events.Select(e => e.Serial));
        // B moved to a new epoch, starting at its next sequence; its next batch says what was lost.
        string newEpoch = b.Spool.Epoch;
        Assert.NotEqual(epoch, newEpoch);
        Assert.Equal(6ul, b.Spool.EpochStartSequence);
        Assert.Equal(6ul, b.Append(2));
        await b.WaitForEmptySpoolAsync();
        var carrier = collector.Stored[(TestBatches.AgentId, newEpoch, 6)];
        Assert.Equal((6ul, 1ul, 5ul), (carrier.EpochStartSequence, carrier.Loss.QuarantinedBatches, carrier.Loss.QuarantinedEvents));
        // Across everything stored, the refused batch is reported exactly once.
        Assert.Equal(1ul, collector.Stored.Values.Aggregate(0ul, (n, s) => n + s.Loss.QuarantinedBatches));
        Assert.Equal(5ul, collector.Stored.Values.Aggregate(0ul, (n, s) => n + s.Loss.QuarantinedEvents));
        Assert.Equal(6, collector.Stored.Count); // A's 1..4, B's 5 (old epoch), B's 6 (new)
        Assert.Equal(0, collector.Duplicates);
    }

    [Fact]
    public async Task AlreadyExistsForEveryBatchInFlight_OneNewEpochOnly_EachRefusedBatchCountedOnce()
    {
        await using var collector = await TestCollector.StartAsync();
        // The collector refuses sequences 1..4 (all cut under the first epoch) as taken.
        collector.FaultFor = static (sequence, _) => sequence <= 4 ? Fault.AlreadyExists : Fault.None;
        await using var harness = ShippingHarness.Create(collector, o => o.AttemptTimeout = TimeSpan.FromSeconds(30));
        string first = harness.Spool.Epoch;
        for (int i = 0; i < 4; i++)
        {
            harness.Append(i + 1);
        }
        harness.Start();
        await harness.WaitForEmptySpoolAsync();
        Assert.Equal(4, harness.Shipper.Status.Conflicts);

        // One new epoch, not four: batches 2..4 were cut under an epoch already left behind.
        Assert.NotEqual(first, harness.Spool.Epoch);
        Assert.Equal(2, harness.Spool.Counters.EpochsStarted); // the new spool's, and the conflict's
        Assert.Equal(5ul, harness.Spool.EpochStartSequence);
        Assert.Empty(collector.Stored);
        Assert.Equal(4, collector.Conflicts);

        Assert.Equal(5ul, harness.Append(1));
        await harness.WaitForEmptySpoolAsync();
        var carrier = collector.Stored.Single().Value;
        Assert.Equal((harness.Spool.Epoch, 5ul), (carrier.Epoch, carrier.EpochStartSequence));
        Assert.Equal((4ul, 10ul), (carrier.Loss.QuarantinedBatches, carrier.Loss.QuarantinedEvents));
        Assert.Equal((4, 10), (harness.Spool.Counters.QuarantinedBatches, harness.Spool.Counters.QuarantinedEvents));
        Assert.Equal(4, Directory.GetFiles(harness.ShipperOptions.QuarantineDirectory, "*.batch").Length);
        // Refused is never acknowledged as stored.
        Assert.Equal(1, harness.Shipper.Status.AckedBatches);
        Assert.Equal(1, harness.Spool.Counters.AckedBatches);
    }

    [Fact]
    public void ShipperRefusesOnlyWhatNoResendFixes()
    {
        // ALREADY_EXISTS is the batch's own fault, like INVALID_ARGUMENT; RESOURCE_EXHAUSTED with a pushback
        // hint (too many calls in flight) is retried, without one (too large) it is the batch's own fault too.
        Assert.False(ShippingResilience.IsTransient(new RpcException(new Grpc.Core.Status(StatusCode.AlreadyExists, "taken"))));
        Assert.True(ShippingResilience.IsTransient(new RpcException(new Grpc.Core.Status(StatusCode.ResourceExhausted, "busy"), new Grpc.Core.Metadata { { ShippingResilience.PushbackTrailer, "1000" } })));
        Assert.False(ShippingResilience.IsTransient(new RpcException(new Grpc.Core.Status(StatusCode.ResourceExhausted, "too large"))));
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string file in Directory.GetFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }
    }
}
