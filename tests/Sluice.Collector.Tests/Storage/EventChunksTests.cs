using Google.Protobuf;
using Google.Protobuf.Collections;
using Sluice.Collector.Storage;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Tests.Storage;

public sealed class EventChunksTests
{
    private static RepeatedField<Event> Events(int count) => TestEvents.Batch("a", 1, count).Events;

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(EventChunks.EventsPerChunk - 1)]
    [InlineData(EventChunks.EventsPerChunk)]
    [InlineData(EventChunks.EventsPerChunk + 1)]
    [InlineData(1000)]
    public void From_ThenDecode_EveryEventByteExactInItsChunkAtItsOrdinal(int count)
    {
        var events = Events(count);
        using var chunks = EncodedChunks.From(events);

        Assert.Equal((count + EventChunks.EventsPerChunk - 1) / EventChunks.EventsPerChunk, chunks.Count);
        for (int ordinal = 0; ordinal < count; ordinal++)
        {
            int chunk = EventChunks.ChunkOf(ordinal);
            var decoded = EventChunks.Decode(chunks[chunk].ToArray(), 7, chunk);
            Assert.Equal(Math.Min(EventChunks.EventsPerChunk, count - chunk * EventChunks.EventsPerChunk), decoded.Count);
            Assert.Equal(events[ordinal].ToByteArray(), decoded.Event(EventChunks.IndexInChunk(ordinal)).ToByteArray());
        }
    }

    [Fact]
    public void From_AuditRecords_ChunkIsSmallerThanItsEvents()
    {
        var events = Events(EventChunks.EventsPerChunk);
        using var chunks = EncodedChunks.From(events);

        Assert.True(chunks[0].Length * 3 < events.Sum(e => e.CalculateSize()), $"{chunks[0].Length} bytes compressed");
    }

    [Fact]
    public void Decode_UnknownFormat_RefusedNamingChunkBatchAndFormat()
    {
        using var chunks = EncodedChunks.From(Events(3));
        var data = chunks[0].ToArray();
        data[0] = 9;

        var e = Assert.Throws<InvalidDataException>(() => EventChunks.Decode(data, 12, 4));

        Assert.Equal($"event chunk 4 of batch 12 has format 9; this collector reads format {EventChunks.DeflateFormat} only", e.Message);
    }

    [Fact]
    public void Decode_CutShort_RefusedAsCorruptNamingChunk()
    {
        using var chunks = EncodedChunks.From(Events(EventChunks.EventsPerChunk));
        var data = chunks[0].ToArray()[..(chunks[0].Length / 2)];

        var e = Assert.Throws<InvalidDataException>(() => EventChunks.Decode(data, 12, 0));

        Assert.StartsWith("event chunk 0 of batch 12 is corrupt: ", e.Message);
    }

    [Fact]
    public void Event_OrdinalBeyondChunk_RefusedNamingWhatIsMissing()
    {
        using var chunks = EncodedChunks.From(Events(3));
        var decoded = EventChunks.Decode(chunks[0].ToArray(), 5, 0);

        var e = Assert.Throws<InvalidDataException>(() => decoded.Event(3));

        Assert.Equal("event chunk 0 of batch 5 holds 3 events; event 3 of it is missing", e.Message);
    }
}
