using System.Buffers.Binary;
using System.IO.Hashing;
using Sluice.Agent.Spool;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Tests.Spool;

/// <summary>The state file (format 2, and format 1 as older agents left it) and the spool's epoch.</summary>
public sealed class SpoolStateTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private SpoolOptions Options() => new() { Directory = _dir.Path, MaxBytes = 64L * 1024 * 1024, SegmentBytes = 1024 * 1024, AckPersistInterval = TimeSpan.Zero };

    private string StatePath => Path.Combine(_dir.Path, SpoolState.FileName);

    private static List<EventBatch> ReadAll(DiskSpool spool)
    {
        var list = new List<EventBatch>();
        while (spool.TryRead() is { } entry)
        {
            using (entry)
            {
                list.Add(EventBatch.Parser.ParseFrom(entry.Payload.Span));
            }
        }
        return list;
    }

    [Fact]
    public void Write_ThenRead_RoundTripsEveryField()
    {
        var pending = new DeliveryLoss { SpoolDroppedBatches = 1, SpoolDroppedEvents = 2, QuarantinedBatches = 3, QuarantinedEvents = 4, QuarantineTrimmedBatches = 5, QuarantineTrimmedEvents = 6, SpoolCorruptBatches = 7, SpoolCorruptEvents = 8 };
        var carrying = new DeliveryLoss { QuarantinedBatches = 11, SpoolCorruptEvents = 12 };
        var state = new SpoolState(41, 30, 12, "00112233445566778899aabbccddeeff", 17, pending, 42, carrying, 41);

        state.Write(_dir.Path);

        Assert.Equal(208, new FileInfo(StatePath).Length);
        Assert.Equal(state, SpoolState.Read(_dir.Path));
    }

    [Fact]
    public void Read_Version1File_KeepsSequencesAndThePendingDropWithoutAnEpoch()
    {
        WriteVersion1State(next: 9, acked: 5, dropped: 2, pendingEvents: 13, pendingBatches: 3, carrier: 9);

        var state = SpoolState.Read(_dir.Path)!;

        Assert.Equal((9ul, 5ul, 2ul), (state.NextSequence, state.AckedThrough, state.DroppedThrough));
        Assert.Null(state.Epoch);
        Assert.Equal(new DeliveryLoss { SpoolDroppedBatches = 3, SpoolDroppedEvents = 13 }, state.Pending);
        Assert.Equal(9ul, state.PendingCarrier);
        Assert.Equal(DeliveryLoss.None, state.Carrying);
    }

    [Theory]
    [InlineData(new byte[] { 1, 2, 3 })]
    [InlineData(new byte[0])]
    public void Read_DamagedFile_ThrowsNamingTheFile(byte[] content)
    {
        File.WriteAllBytes(StatePath, content);
        var e = Assert.Throws<InvalidDataException>(() => SpoolState.Read(_dir.Path));
        Assert.Contains(StatePath, e.Message);
    }

    [Fact]
    public void Read_ChecksumMismatch_Throws()
    {
        new SpoolState(5, 1, 0, SpoolState.NewEpoch(), 1, DeliveryLoss.None, 0, DeliveryLoss.None, 0).Write(_dir.Path);
        byte[] bytes = File.ReadAllBytes(StatePath);
        bytes[8] ^= 1;
        File.WriteAllBytes(StatePath, bytes);
        Assert.Throws<InvalidDataException>(() => SpoolState.Read(_dir.Path));
    }

    [Fact]
    public void NewEpoch_Is32LowercaseHexDigitsAndDiffersEachTime()
    {
        var epochs = Enumerable.Range(0, 100).Select(_ => SpoolState.NewEpoch()).ToList();
        Assert.All(epochs, e => Assert.Matches("^[0-9a-f]{32}$", e));
        Assert.Equal(100, epochs.Distinct().Count());
    }

    [Fact]
    public void Open_NewSpool_EpochStartsAtOneAndSurvivesReopen()
    {
        string epoch;
        using (var spool = DiskSpool.Open(Options()))
        {
            epoch = spool.Epoch;
            Assert.Matches("^[0-9a-f]{32}$", epoch);
            Assert.Equal(1ul, spool.EpochStartSequence);
            spool.Append(TestBatches.Create(1, 2));
            spool.Append(TestBatches.Create(3, 2));
            Assert.All(ReadAll(spool), b => Assert.Equal((epoch, 1ul), (b.Epoch, b.EpochStartSequence)));
            Assert.Equal(1, spool.Counters.EpochsStarted);
        }
        using (var spool = DiskSpool.Open(Options()))
        {
            Assert.Equal((epoch, 1ul), (spool.Epoch, spool.EpochStartSequence));
            Assert.Equal(3ul, spool.Append(TestBatches.Create(5, 1)));
            var batches = ReadAll(spool);
            Assert.Equal(new ulong[] { 1, 2, 3 }, batches.Select(b => b.Sequence));
            Assert.All(batches, b => Assert.Equal((epoch, 1ul), (b.Epoch, b.EpochStartSequence)));
            Assert.Equal(0, spool.Counters.EpochsStarted);
        }
    }

    [Theory]
    [InlineData("deleted")]
    [InlineData("damaged")]
    public void Open_StateLostSegmentsKept_NewEpochFromTheNextSequenceAndPendingBatchesKeepTheirs(string how)
    {
        string first;
        using (var spool = DiskSpool.Open(Options()))
        {
            first = spool.Epoch;
            for (int i = 0; i < 4; i++)
            {
                spool.Append(TestBatches.Create((ulong)i * 10, 2));
            }
        }
        if (how == "deleted")
        {
            File.Delete(StatePath);
        }
        else
        {
            File.WriteAllBytes(StatePath, [9, 9, 9]);
        }
        using (var spool = DiskSpool.Open(Options()))
        {
            Assert.NotEqual(first, spool.Epoch);
            Assert.Equal(5ul, spool.EpochStartSequence);
            Assert.Equal(5ul, spool.Append(TestBatches.Create(100, 1)));
            var batches = ReadAll(spool);
            // The batches cut before keep the epoch they were cut with; they may be resent, and the
            // collector recognises them under their own key.
            Assert.Equal(new ulong[] { 1, 2, 3, 4, 5 }, batches.Select(b => b.Sequence));
            Assert.All(batches.Take(4), b => Assert.Equal((first, 1ul), (b.Epoch, b.EpochStartSequence)));
            Assert.Equal((spool.Epoch, 5ul), (batches[4].Epoch, batches[4].EpochStartSequence));
        }
    }

    [Fact]
    public void Open_SpoolAndStateGone_NewEpochStartsAtOneAgain()
    {
        string first;
        using (var spool = DiskSpool.Open(Options()))
        {
            first = spool.Epoch;
            spool.Append(TestBatches.Create(1, 1));
        }
        Directory.Delete(_dir.Path, recursive: true);
        using var again = DiskSpool.Open(Options());
        Assert.Equal(1ul, again.Append(TestBatches.Create(1, 1)));
        var batch = ReadAll(again).Single();
        // Same sequence as before, other epoch: another key at the collector, never a "duplicate".
        Assert.NotEqual(first, batch.Epoch);
        Assert.Equal(1ul, batch.EpochStartSequence);
    }

    [Fact]
    public void Open_Version1Spool_ReadsItsBatchesAndMintsAnEpochStartingAtItsNextSequence()
    {
        // A spool as the version before epochs left it: two entries in format 1 (SLB1, 48-byte
        // headers), batch 1 acknowledged, batch 2 waiting, a drop of 3 batches (13 events) not yet
        // reported and to be carried by batch 3, never written.
        var b1 = TestBatches.Create(1, 2);
        b1.Sequence = 1;
        var b2 = TestBatches.Create(3, 4);
        b2.Sequence = 2;
        using (var f = File.Create(Path.Combine(_dir.Path, "00000000000000000001.seg")))
        {
            f.Write(Version1Entry(b1));
            f.Write(Version1Entry(b2));
        }
        WriteVersion1State(next: 3, acked: 1, dropped: 0, pendingEvents: 13, pendingBatches: 3, carrier: 3);

        using (var spool = DiskSpool.Open(Options()))
        {
            Assert.Equal(3ul, spool.EpochStartSequence);
            Assert.Equal(1, spool.Counters.RecoveredBatches);
            Assert.Equal(3ul, spool.Append(TestBatches.Create(10, 1)));
            var batches = ReadAll(spool);
            Assert.Equal(new ulong[] { 2, 3 }, batches.Select(b => b.Sequence));
            // Batch 2 was cut without an epoch, and goes out as it was cut.
            Assert.Equal(b2, batches[0]);
            Assert.Equal("", batches[0].Epoch);
            // The first batch cut after the upgrade starts the epoch, and carries the old pending drop.
            Assert.Equal((spool.Epoch, 3ul), (batches[1].Epoch, batches[1].EpochStartSequence));
            Assert.Equal((3ul, 13ul), (batches[1].Loss.SpoolDroppedBatches, batches[1].Loss.SpoolDroppedEvents));
        }
        // The state file is in format 2 now.
        Assert.Equal(208, new FileInfo(StatePath).Length);
        Assert.NotNull(SpoolState.Read(_dir.Path)!.Epoch);
    }

    [Fact]
    public void SetAside_NewEpoch_LaterBatchesStartItAtTheNextSequenceAndEarlierOnesKeepTheirs()
    {
        using var spool = DiskSpool.Open(Options());
        string first = spool.Epoch;
        for (int i = 0; i < 4; i++)
        {
            spool.Append(TestBatches.Create((ulong)i * 10, 3));
        }
        var sent = ReadAll(spool);

        spool.SetAside(2, 3, DeliveryLoss.None, newEpoch: true);
        string second = spool.Epoch;
        Assert.NotEqual(first, second);
        Assert.Equal(5ul, spool.EpochStartSequence);
        // Batch 3, cut under the first epoch, refused the same way: that epoch is already left behind.
        spool.SetAside(3, 3, DeliveryLoss.None, newEpoch: true);
        Assert.Equal((second, 5ul), (spool.Epoch, spool.EpochStartSequence));

        Assert.Equal(5ul, spool.Append(TestBatches.Create(100, 1)));
        var next = ReadAll(spool).Single();
        Assert.Equal((second, 5ul), (next.Epoch, next.EpochStartSequence));
        // Both refused batches, with their events, are reported by the next batch.
        Assert.Equal((2ul, 6ul), (next.Loss.QuarantinedBatches, next.Loss.QuarantinedEvents));
        Assert.All(sent, b => Assert.Equal(first, b.Epoch));
        var counters = spool.Counters;
        Assert.Equal((2, 6), (counters.QuarantinedBatches, counters.QuarantinedEvents));
        Assert.Equal(2, counters.EpochsStarted);
        // Set aside is done with, but not delivered: only batch 1 counts as acknowledged.
        Assert.Equal((1, 3), (counters.AckedBatches, counters.AckedEvents));
        Assert.Equal(3ul, counters.AckedThrough);
    }

    [Fact]
    public void SetAside_ThenCrash_TheLossAndTheNewEpochSurviveAndAreReportedOnce()
    {
        var crashed = DiskSpool.Open(Options());
        crashed.Append(TestBatches.Create(1, 5));
        crashed.Append(TestBatches.Create(6, 2));
        ReadAll(crashed);
        crashed.SetAside(1, 5, new DeliveryLoss { QuarantineTrimmedBatches = 1, QuarantineTrimmedEvents = 7 }, newEpoch: true);
        string epoch = crashed.Epoch;
        // No Dispose: like a killed process.

        using (var spool = DiskSpool.Open(Options()))
        {
            Assert.Equal((epoch, 3ul), (spool.Epoch, spool.EpochStartSequence));
            Assert.Equal(new DeliveryLoss { QuarantinedBatches = 1, QuarantinedEvents = 5, QuarantineTrimmedBatches = 1, QuarantineTrimmedEvents = 7 }, spool.Counters.UnreportedLoss);
            Assert.Equal(3ul, spool.Append(TestBatches.Create(20, 1)));
            var batches = ReadAll(spool);
            Assert.Equal(new ulong[] { 2, 3 }, batches.Select(b => b.Sequence));
            Assert.Equal(0ul, batches[0].Loss.QuarantinedBatches);
            Assert.Equal((1ul, 5ul, 1ul, 7ul), (batches[1].Loss.QuarantinedBatches, batches[1].Loss.QuarantinedEvents, batches[1].Loss.QuarantineTrimmedBatches, batches[1].Loss.QuarantineTrimmedEvents));
            Assert.Equal(DeliveryLoss.None, spool.Counters.UnreportedLoss);
        }
        // The carrier is on disk: a second restart does not report the loss again.
        using (var spool = DiskSpool.Open(Options()))
        {
            Assert.Equal(DeliveryLoss.None, spool.Counters.UnreportedLoss);
            Assert.Equal(4ul, spool.Append(TestBatches.Create(30, 1)));
            var last = ReadAll(spool).Last();
            Assert.Equal(4ul, last.Sequence);
            Assert.Equal(0ul, last.Loss.QuarantinedBatches);
        }
    }

    [Fact]
    public void SetAside_ACarrierOfEarlierLoss_ThatLossIsReportedAgainWithIt()
    {
        using var spool = DiskSpool.Open(Options());
        spool.Append(TestBatches.Create(1, 2));
        ReadAll(spool);
        spool.SetAside(1, 2, DeliveryLoss.None, newEpoch: false);
        // Batch 2 carries batch 1's quarantine, and is refused in turn: nothing of it is stored.
        spool.Append(TestBatches.Create(3, 3));
        Assert.Equal(1ul, ReadAll(spool).Single().Loss.QuarantinedBatches);
        spool.SetAside(2, 3, DeliveryLoss.None, newEpoch: false);

        spool.Append(TestBatches.Create(6, 1));
        var next = ReadAll(spool).Single();
        Assert.Equal((2ul, 5ul), (next.Loss.QuarantinedBatches, next.Loss.QuarantinedEvents));
        Assert.Equal((2, 5), (spool.Counters.QuarantinedBatches, spool.Counters.QuarantinedEvents));
    }

    [Fact]
    public void TryRead_EntryCorruptedAfterOpen_CountedAsCorruptWithItsEventsAndWhatItCarried()
    {
        using var spool = DiskSpool.Open(Options());
        spool.Append(TestBatches.Create(1, 2));
        var read = spool.TryRead()!;
        spool.SetAside(1, 2, DeliveryLoss.None, newEpoch: false);
        read.Dispose();
        // Batch 2 carries the quarantine of batch 1; then its bytes go bad on disk.
        spool.Append(TestBatches.Create(3, 4));
        string segment = Directory.GetFiles(_dir.Path, "*.seg").Single();
        using (var handle = File.OpenHandle(segment, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite))
        {
            long at = RandomAccess.GetLength(handle) - 10;
            Span<byte> b = stackalloc byte[1];
            RandomAccess.Read(handle, b, at);
            b[0] ^= 0x5A;
            RandomAccess.Write(handle, b, at);
        }
        int signals = 0;
        spool.LossRecorded += () => signals++;

        Assert.Null(spool.TryRead());

        Assert.Equal(1, signals);
        Assert.Equal((1, 4), (spool.Counters.CorruptBatches, spool.Counters.CorruptEvents));
        Assert.Equal(0, spool.Counters.DroppedBatches);
        spool.Append(TestBatches.Create(10, 1));
        var next = ReadAll(spool).Single();
        Assert.Equal(3ul, next.Sequence);
        Assert.Equal((1ul, 4ul), (next.Loss.SpoolCorruptBatches, next.Loss.SpoolCorruptEvents));
        // What the lost batch reported is reported again.
        Assert.Equal((1ul, 2ul), (next.Loss.QuarantinedBatches, next.Loss.QuarantinedEvents));
    }

    private static byte[] Version1Entry(EventBatch batch)
    {
        byte[] payload = Google.Protobuf.MessageExtensions.ToByteArray(batch);
        byte[] entry = new byte[48 + payload.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(entry, 0x31424C53); // "SLB1"
        BinaryPrimitives.WriteInt32LittleEndian(entry.AsSpan(4), payload.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(entry.AsSpan(8), batch.Sequence);
        BinaryPrimitives.WriteInt32LittleEndian(entry.AsSpan(16), batch.Events.Count);
        payload.CopyTo(entry, 48);
        var hash = new XxHash3();
        hash.Append(entry.AsSpan(0, 40));
        hash.Append(payload);
        BinaryPrimitives.WriteUInt64LittleEndian(entry.AsSpan(40), hash.GetCurrentHashAsUInt64());
        return entry;
    }

    private void WriteVersion1State(ulong next, ulong acked, ulong dropped, ulong pendingEvents, ulong pendingBatches, ulong carrier)
    {
        byte[] b = new byte[64];
        BinaryPrimitives.WriteUInt32LittleEndian(b, 0x31534C53); // "SLS1"
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), 1);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(8), next);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(16), acked);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(24), dropped);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(32), pendingEvents);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(40), pendingBatches);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(48), carrier);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(56), XxHash3.HashToUInt64(b.AsSpan(0, 56)));
        File.WriteAllBytes(StatePath, b);
    }
}
