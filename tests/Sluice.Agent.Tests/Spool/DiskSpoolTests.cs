using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Sluice.Agent.Shipping;
using Sluice.Agent.Spool;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Tests.Spool;

public sealed class DiskSpoolTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private SpoolOptions Options(long maxBytes = 64L * 1024 * 1024, long segmentBytes = 1024 * 1024, FsyncMode fsync = FsyncMode.PerBatch)
        => new() { Directory = _dir.Path, MaxBytes = maxBytes, SegmentBytes = segmentBytes, Fsync = fsync, AckPersistInterval = TimeSpan.Zero };

    private static List<SpoolEntry> ReadAll(DiskSpool spool)
    {
        var list = new List<SpoolEntry>();
        while (spool.TryRead() is { } entry)
        {
            list.Add(entry);
        }
        return list;
    }

    private string[] SegmentFiles() => Directory.GetFiles(_dir.Path, "*.seg").Order(StringComparer.Ordinal).ToArray();

    [Fact]
    public void Append_ThenTryRead_ReturnsBatchesInOrderWithTheirContent()
    {
        using var spool = DiskSpool.Open(Options());
        for (int i = 0; i < 10; i++)
        {
            Assert.Equal((ulong)i + 1, spool.Append(TestBatches.Create((ulong)i * 5, 5)));
        }
        var entries = ReadAll(spool);
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (ulong)i), entries.Select(e => e.Sequence));
        for (int i = 0; i < 10; i++)
        {
            Assert.Equal(5, entries[i].EventCount);
            Assert.Equal(Enumerable.Range(i * 5, 5).Select(s => (ulong)s), TestBatches.Serials(entries[i].Payload));
            var batch = EventBatch.Parser.ParseFrom(entries[i].Payload.Span);
            Assert.Equal((ulong)i + 1, batch.Sequence);
            Assert.Equal(TestBatches.AgentId, batch.AgentId);
            entries[i].Dispose();
        }
        var counters = spool.Counters;
        Assert.Equal(10, counters.WrittenBatches);
        Assert.Equal(50, counters.WrittenEvents);
        Assert.Equal(10, counters.DepthBatches);
        Assert.Equal(new FileInfo(SegmentFiles().Single()).Length, counters.DepthBytes);
    }

    [Fact]
    public void Append_CutBatchesFromTheBatcher_ReadBackAndRecoverAsWholeBatches()
    {
        var cut = new List<EventBatch>();
        using (var spool = DiskSpool.Open(Options()))
        {
            using var batcher = new Batcher(new BatcherOptions { MaxEvents = 7 }, new AgentIdentity(TestBatches.AgentId, "host", "boot"), b =>
            {
                cut.Add(b.ToEventBatch());
                spool.Append(b);
            });
            batcher.AddLoss(new LossCounters { KernelLost = 3 });
            for (ulong i = 0; i < 30; i++)
            {
                batcher.Add(TestBatches.CreateEvent(i, extraBytes: (int)i * 40));
            }
            batcher.Flush();
            var entries = ReadAll(spool);
            Assert.Equal(new[] { 7, 7, 7, 7, 2 }, entries.Select(e => e.EventCount));
            for (int i = 0; i < entries.Count; i++)
            {
                var batch = EventBatch.Parser.ParseFrom(entries[i].Payload.Span);
                Assert.Equal((ulong)i + 1, batch.Sequence);
                // The spool stamps the sequence, and with it the spool's epoch (a new spool: from 1).
                Assert.Equal((spool.Epoch, 1ul), (batch.Epoch, batch.EpochStartSequence));
                Assert.Matches("^[0-9a-f]{32}$", batch.Epoch);
                cut[i].Sequence = batch.Sequence;
                cut[i].Epoch = batch.Epoch;
                cut[i].EpochStartSequence = batch.EpochStartSequence;
                Assert.Equal(cut[i], batch);
                entries[i].Dispose();
            }
            Assert.Equal(3ul, cut[0].Loss.KernelLost);
        }
        // Recovery checks each entry's checksum over the header and both parts of the payload.
        using var reopened = DiskSpool.Open(Options());
        var recovered = ReadAll(reopened);
        Assert.Equal(5, recovered.Count);
        Assert.Equal(Enumerable.Range(0, 30).Select(i => (ulong)i), recovered.SelectMany(e => TestBatches.Serials(e.Payload)));
        Assert.Equal(0, reopened.Counters.DroppedBatches);
        recovered.ForEach(e => e.Dispose());
    }

    [Fact]
    public void Open_AfterRestart_ContinuesSequenceAndResendsOnlyUnacknowledged()
    {
        using (var spool = DiskSpool.Open(Options()))
        {
            for (int i = 0; i < 6; i++)
            {
                spool.Append(TestBatches.Create((ulong)i * 2, 2));
            }
            ReadAll(spool).ForEach(e => e.Dispose());
            spool.Acknowledge(4);
        }
        using (var spool = DiskSpool.Open(Options()))
        {
            var entries = ReadAll(spool);
            Assert.Equal(new ulong[] { 5, 6 }, entries.Select(e => e.Sequence));
            Assert.Equal(new ulong[] { 8, 9 }, TestBatches.Serials(entries[0].Payload));
            Assert.Equal(7ul, spool.Append(TestBatches.Create(100, 1)));
            Assert.Equal(2, spool.Counters.RecoveredBatches);
            Assert.Equal(3, spool.Counters.DepthBatches);
        }
    }

    [Fact]
    public void Acknowledge_AllBatchesOfSealedSegments_DeletesThemAndSequenceSurvivesReopen()
    {
        // ~2.3 KB per batch, 16 KiB segments: several segments.
        using (var spool = DiskSpool.Open(Options(maxBytes: 1024 * 1024, segmentBytes: 16 * 1024)))
        {
            for (int i = 0; i < 40; i++)
            {
                spool.Append(TestBatches.Create((ulong)i * 4, 4));
            }
            Assert.True(SegmentFiles().Length > 3);
            ReadAll(spool).ForEach(e => e.Dispose());
            spool.Acknowledge(40);
            // Only the active segment (all acknowledged) remains.
            Assert.Single(SegmentFiles());
            Assert.Equal(0, spool.Counters.DepthBatches);
            Assert.Equal(160, spool.Counters.AckedEvents);
        }
        using (var spool = DiskSpool.Open(Options(maxBytes: 1024 * 1024, segmentBytes: 16 * 1024)))
        {
            Assert.Empty(SegmentFiles());
            Assert.Null(spool.TryRead());
            Assert.Equal(41ul, spool.Append(TestBatches.Create(1000, 1)));
        }
    }

    [Fact]
    public void Append_OverCap_DropsOldestSegmentsCountsExactlyAndReportsInTheBatchBeingAppended()
    {
        var options = Options(maxBytes: 64 * 1024, segmentBytes: 16 * 1024);
        var eventsPerSequence = new Dictionary<ulong, int>();
        var dropCarried = new Dictionary<ulong, (long Batches, long Events)>();
        using var spool = DiskSpool.Open(options);
        for (int i = 0; i < 100; i++)
        {
            int events = 1 + i % 4; // varying event counts, so the event count is checked, not just batches
            var before = spool.Counters;
            ulong seq = spool.Append(TestBatches.Create((ulong)i * 10, events));
            var after = spool.Counters;
            eventsPerSequence[seq] = events;
            dropCarried[seq] = (after.DroppedBatches - before.DroppedBatches, after.DroppedEvents - before.DroppedEvents);
            Assert.True(after.DepthBytes <= options.MaxBytes, $"depth {after.DepthBytes} passed the cap");
        }
        var entries = ReadAll(spool);
        var present = entries.Select(e => e.Sequence).ToList();
        // What survives is a contiguous tail: the oldest went first.
        Assert.Equal(Enumerable.Range((int)present[0], present.Count).Select(s => (ulong)s), present);
        Assert.Equal(100ul, present[^1]);
        var dropped = eventsPerSequence.Keys.Where(s => !present.Contains(s)).ToList();
        Assert.Equal(present[0] - 1, (ulong)dropped.Count);
        var counters = spool.Counters;
        Assert.Equal(dropped.Count, counters.DroppedBatches);
        Assert.Equal(dropped.Sum(s => eventsPerSequence[s]), counters.DroppedEvents);
        Assert.Equal(present.Count, counters.DepthBatches);

        // Each drop is reported exactly once by the batches still on disk: by the batch appended when
        // it happened, or, when that batch was dropped in turn, by the batch appended then.
        ulong reportedBatches = 0;
        ulong reportedEvents = 0;
        foreach (var entry in entries)
        {
            var loss = EventBatch.Parser.ParseFrom(entry.Payload.Span).Loss;
            Assert.True(loss.SpoolDroppedBatches >= (ulong)dropCarried[entry.Sequence].Batches);
            reportedBatches += loss.SpoolDroppedBatches;
            reportedEvents += loss.SpoolDroppedEvents;
            entry.Dispose();
        }
        Assert.Equal((ulong)dropped.Count, reportedBatches);
        Assert.Equal((ulong)dropped.Sum(s => eventsPerSequence[s]), reportedEvents);
    }

    [Fact]
    public void Open_DropCarrierTornByCrash_ReportsTheDropInTheNextBatch()
    {
        var options = Options(maxBytes: 64 * 1024, segmentBytes: 16 * 1024);
        ulong carrierSeq;
        long droppedEvents;
        long droppedBatches;
        // This spool "crashes": it is never disposed, so it writes nothing more.
        var crashed = DiskSpool.Open(options);
        int i = 0;
        do
        {
            carrierSeq = crashed.Append(TestBatches.Create((ulong)i * 10, 2));
            i++;
        }
        while (crashed.Counters.DroppedBatches == 0);
        droppedEvents = crashed.Counters.DroppedEvents;
        droppedBatches = crashed.Counters.DroppedBatches;
        // The crash tore the carrier: cut its last byte.
        string last = SegmentFiles()[^1];
        using (var handle = File.OpenHandle(last, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite))
        {
            RandomAccess.SetLength(handle, RandomAccess.GetLength(handle) - 1);
        }
        using (var spool = DiskSpool.Open(options))
        {
            Assert.Equal(carrierSeq, spool.Append(TestBatches.Create(5000, 1)));
            var entry = ReadAll(spool).Single(e => e.Sequence == carrierSeq);
            var loss = EventBatch.Parser.ParseFrom(entry.Payload.Span).Loss;
            Assert.Equal((ulong)droppedBatches, loss.SpoolDroppedBatches);
            Assert.Equal((ulong)droppedEvents, loss.SpoolDroppedEvents);
            Assert.Equal(new ulong[] { 5000 }, TestBatches.Serials(entry.Payload));
        }
    }

    [Fact]
    public void Append_BatchLargerThanSegment_ThrowsNamingTheLimitAndKeepsSpool()
    {
        using var spool = DiskSpool.Open(Options(maxBytes: 1024 * 1024, segmentBytes: 16 * 1024));
        spool.Append(TestBatches.Create(0, 1));
        var e = Assert.Throws<ArgumentException>(() => spool.Append(TestBatches.Create(1, 10, extraBytesPerEvent: 2000)));
        Assert.Contains("SegmentBytes", e.Message);
        Assert.Equal(2ul, spool.Append(TestBatches.Create(2, 1)));
        Assert.Equal(2, ReadAll(spool).Count);
    }

    [Fact]
    public void TryRead_IntervalFsync_PublishesOnlyAfterTheFsync()
    {
        var time = new FakeTimeProvider();
        using var spool = DiskSpool.Open(Options(fsync: FsyncMode.Interval), time);
        spool.Append(TestBatches.Create(0, 1)); // first append fsyncs at once (no fsync yet)
        spool.Append(TestBatches.Create(1, 1));
        spool.Append(TestBatches.Create(2, 1));
        Assert.Equal(new ulong[] { 1 }, ReadAll(spool).Select(e => e.Sequence));
        long fsyncs = spool.Counters.Fsyncs;
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(fsyncs + 1, spool.Counters.Fsyncs);
        Assert.Equal(new ulong[] { 2, 3 }, ReadAll(spool).Select(e => e.Sequence));
    }

    [Fact]
    public async Task WaitToReadAsync_NothingWritten_CompletesWhenABatchIsAppended()
    {
        using var spool = DiskSpool.Open(Options());
        var wait = spool.WaitToReadAsync(CancellationToken.None).AsTask();
        Assert.False(wait.IsCompleted);
        spool.Append(TestBatches.Create(0, 1));
        await wait.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.NotNull(spool.TryRead());
    }

    [Theory]
    [InlineData(0, 1024, "MaxBytes")]
    [InlineData(1024 * 1024, 512 * 1024, "SegmentBytes")]
    public void Open_InvalidOptions_ThrowsNamingTheKey(long maxBytes, long segmentBytes, string key)
    {
        var e = Assert.Throws<OptionsValidationException>(() => DiskSpool.Open(Options(maxBytes, segmentBytes)));
        Assert.Contains(key, e.Message);
    }
}
