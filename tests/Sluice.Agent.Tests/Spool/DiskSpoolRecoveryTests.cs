using System.Buffers.Binary;
using Sluice.Agent.Spool;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Tests.Spool;

/// <summary>Recovery from torn and corrupt segment tails, at exact byte positions.</summary>
public sealed class DiskSpoolRecoveryTests : IDisposable
{
    private const int HeaderSize = 96; // entry format 2 (SpoolEntryFormat)
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private SpoolOptions Options(long segmentBytes = 1024 * 1024) => new() { Directory = _dir.Path, MaxBytes = 64L * 1024 * 1024, SegmentBytes = segmentBytes };

    private string[] SegmentFiles() => Directory.GetFiles(_dir.Path, "*.seg").Order(StringComparer.Ordinal).ToArray();

    /// <summary>Entry start offsets in a segment file, parsed from the headers, plus the file length at the end.</summary>
    private static List<long> EntryOffsets(string segment)
    {
        byte[] bytes = File.ReadAllBytes(segment);
        var offsets = new List<long>();
        long offset = 0;
        while (offset < bytes.Length)
        {
            offsets.Add(offset);
            offset += HeaderSize + BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan((int)offset + 4));
        }
        offsets.Add(offset);
        return offsets;
    }

    private static void Mutate(string path, Action<Microsoft.Win32.SafeHandles.SafeFileHandle> change)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        change(handle);
    }

    private static void FlipByte(string path, long offset) => Mutate(path, h =>
    {
        Span<byte> b = stackalloc byte[1];
        RandomAccess.Read(h, b, offset);
        b[0] ^= 0x5A;
        RandomAccess.Write(h, b, offset);
    });

    private static List<(ulong Sequence, ulong[] Serials, LossCounters Loss)> ReadAll(DiskSpool spool)
    {
        var list = new List<(ulong, ulong[], LossCounters)>();
        while (spool.TryRead() is { } entry)
        {
            using (entry)
            {
                var batch = EventBatch.Parser.ParseFrom(entry.Payload.Span);
                list.Add((entry.Sequence, batch.Events.Select(e => e.Serial).ToArray(), batch.Loss));
            }
        }
        return list;
    }

    /// <summary>Writes five batches (serials 10i..10i+2) into one segment, as a crashed process leaves them (no clean close).</summary>
    private string WriteFiveAndCrash()
    {
        var spool = DiskSpool.Open(Options());
        for (int i = 0; i < 5; i++)
        {
            spool.Append(TestBatches.Create((ulong)i * 10, 3));
        }
        // No Dispose: like a killed process, the state file keeps what it had at open.
        return SegmentFiles().Single();
    }

    public static TheoryData<string, int> TornCuts => new()
    {
        { "inside the header", 10 },
        { "just after the header", HeaderSize },
        { "inside the payload", HeaderSize + 100 },
        { "one byte short", -1 },
    };

    [Theory]
    [MemberData(nameof(TornCuts))]
    public void Open_TornLastEntry_CutsItAndKeepsEveryEntryBefore(string where, int cutInLastEntry)
    {
        string segment = WriteFiveAndCrash();
        var offsets = EntryOffsets(segment);
        long lastStart = offsets[4];
        long end = offsets[5];
        long cutAt = cutInLastEntry >= 0 ? lastStart + cutInLastEntry : end + cutInLastEntry;
        Mutate(segment, h => RandomAccess.SetLength(h, cutAt));

        using var spool = DiskSpool.Open(Options());
        Assert.Equal(lastStart, new FileInfo(segment).Length);
        Assert.Equal(cutAt - lastStart, spool.Counters.RecoveryCutBytes);
        Assert.Equal(4, spool.Counters.RecoveredBatches);
        var entries = ReadAll(spool);
        Assert.Equal(new ulong[] { 1, 2, 3, 4 }, entries.Select(e => e.Sequence));
        Assert.Equal(new ulong[] { 30, 31, 32 }, entries[3].Serials);
        // The torn batch was never published, so its sequence is free; no loss is reported for it.
        Assert.Equal(5ul, spool.Append(TestBatches.Create(40, 3)));
        Assert.Equal(0, spool.Counters.DroppedBatches);
        Assert.True(where.Length > 0);
    }

    [Fact]
    public void Open_ZeroFilledTail_CutsTheZeros()
    {
        string segment = WriteFiveAndCrash();
        long length = new FileInfo(segment).Length;
        Mutate(segment, h => RandomAccess.Write(h, new byte[4096], length));

        using var spool = DiskSpool.Open(Options());
        Assert.Equal(length, new FileInfo(segment).Length);
        Assert.Equal(4096, spool.Counters.RecoveryCutBytes);
        Assert.Equal(new ulong[] { 1, 2, 3, 4, 5 }, ReadAll(spool).Select(e => e.Sequence));
    }

    [Fact]
    public void Open_CorruptPayloadAfterCleanClose_CutsFromThereCountsTheLostBatchesAndNeverReusesTheirSequences()
    {
        using (var spool = DiskSpool.Open(Options()))
        {
            for (int i = 0; i < 5; i++)
            {
                spool.Append(TestBatches.Create((ulong)i * 10, 3));
            }
        }
        string segment = SegmentFiles().Single();
        var offsets = EntryOffsets(segment);
        FlipByte(segment, offsets[2] + HeaderSize + 50); // inside batch 3's payload

        using (var spool = DiskSpool.Open(Options()))
        {
            Assert.Equal(offsets[2], new FileInfo(segment).Length);
            Assert.Equal(offsets[5] - offsets[2], spool.Counters.RecoveryCutBytes);
            // Batches 3..5 were written (maybe shipped): their sequences are never given out again,
            // and their loss is counted and reported, as corruption (not as the cap's drops). Their
            // headers still tell their 3 events each, batch 3's too (only its payload is damaged).
            Assert.Equal(3, spool.Counters.CorruptBatches);
            Assert.Equal(9, spool.Counters.CorruptEvents);
            Assert.Equal(0, spool.Counters.DroppedBatches);
            Assert.Equal(6ul, spool.Append(TestBatches.Create(100, 1)));
            var entries = ReadAll(spool);
            Assert.Equal(new ulong[] { 1, 2, 6 }, entries.Select(e => e.Sequence));
            Assert.Equal(3ul, entries[2].Loss.SpoolCorruptBatches);
            Assert.Equal(9ul, entries[2].Loss.SpoolCorruptEvents);
            Assert.Equal(0ul, entries[2].Loss.SpoolDroppedBatches);
        }
    }

    [Fact]
    public void Open_CorruptHeaderInMiddleSegment_KeepsEarlierAndLaterSegmentsAndCountsTheGap()
    {
        // ~1.1 KB per batch: 16 KiB segments hold about 14 each.
        using (var writer = DiskSpool.Open(Options(segmentBytes: 16 * 1024)))
        {
            for (int i = 0; i < 40; i++)
            {
                writer.Append(TestBatches.Create((ulong)i * 10, 2));
            }
        }
        var files = SegmentFiles();
        Assert.True(files.Length >= 3);
        string middle = files[1];
        var offsets = EntryOffsets(middle);
        int entriesInMiddle = offsets.Count - 1;
        ulong middleFirst = ulong.Parse(Path.GetFileNameWithoutExtension(middle), System.Globalization.CultureInfo.InvariantCulture);
        FlipByte(middle, offsets[1] + 9); // the sequence field of the middle segment's second entry

        using var spool = DiskSpool.Open(Options(segmentBytes: 16 * 1024));
        Assert.Equal(offsets[1], new FileInfo(middle).Length);
        var sequences = ReadAll(spool).Select(e => e.Sequence).ToList();
        var expected = Enumerable.Range(1, 40).Select(s => (ulong)s)
            .Where(s => s <= middleFirst || s >= middleFirst + (ulong)entriesInMiddle).ToList();
        Assert.Equal(expected, sequences);
        Assert.Equal(entriesInMiddle - 1, spool.Counters.CorruptBatches);
        // The damaged header's own count is not trusted (its sequence is wrong); the intact entries
        // cut after it still tell theirs, 2 events each.
        Assert.Equal((entriesInMiddle - 2) * 2, spool.Counters.CorruptEvents);
        Assert.Equal(0, spool.Counters.DroppedBatches);
        Assert.Equal(41ul, spool.Append(TestBatches.Create(1000, 1)));
    }

    [Fact]
    public void Open_DamagedStateFile_RecoversFromSegmentsAndResendsFromTheStart()
    {
        using (var spool = DiskSpool.Open(Options()))
        {
            for (int i = 0; i < 3; i++)
            {
                spool.Append(TestBatches.Create((ulong)i, 1));
            }
            while (spool.TryRead() is { } e)
            {
                e.Dispose();
            }
            spool.Acknowledge(2);
        }
        File.WriteAllBytes(Path.Combine(_dir.Path, "spool.state"), new byte[] { 1, 2, 3 });
        using (var spool = DiskSpool.Open(Options()))
        {
            // Acknowledged batches may come again (the collector deduplicates); nothing is lost and no sequence repeats.
            Assert.Equal(new ulong[] { 1, 2, 3 }, ReadAll(spool).Select(e => e.Sequence));
            Assert.Equal(4ul, spool.Append(TestBatches.Create(9, 1)));
        }
    }
}
