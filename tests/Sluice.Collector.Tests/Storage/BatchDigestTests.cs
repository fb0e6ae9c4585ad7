using System.IO.Hashing;
using Google.Protobuf;
using Sluice.Collector.Storage;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Tests.Storage;

public sealed class BatchDigestTests
{
    private static EventBatch Batch(int events)
    {
        var batch = TestEvents.Batch("a", 7, events);
        batch.Epoch = "0123456789abcdef0123456789abcdef";
        batch.EpochStartSequence = 3;
        return batch;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2 * EventChunks.EventsPerChunk + 5)]
    public void Of_AnyBatch_IsXxHash128OfItsEncodingInLowercaseHex(int events)
    {
        var batch = Batch(events);

        string digest = BatchDigest.Of(batch);

        Assert.Equal(Convert.ToHexStringLower(XxHash128.Hash(batch.ToByteArray())), digest);
        Assert.Matches("^[0-9a-f]{32}$", digest);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(2 * EventChunks.EventsPerChunk + 5)]
    public void EncodedRows_Digest_SameAsComputedAlone(int events)
    {
        var batch = Batch(events);

        using var rows = EncodedRows.From(batch, IndexTimes.Own);

        Assert.Equal(BatchDigest.Of(batch), rows.Digest);
    }

    [Fact]
    public void Of_FieldsWrittenInAnotherOrder_SameDigest()
    {
        var batch = Batch(4);
        // The events first and the header after them: a valid encoding of the same batch.
        var events = new EventBatch();
        events.Events.AddRange(batch.Events);
        var header = batch.Clone();
        header.Events.Clear();
        byte[] wire = [.. events.ToByteArray(), .. header.ToByteArray()];
        var reordered = EventBatch.Parser.ParseFrom(wire);

        Assert.NotEqual(batch.ToByteArray(), wire);
        Assert.Equal(BatchDigest.Of(batch), BatchDigest.Of(reordered));
    }

    [Fact]
    public void Of_EveryFieldButEvents_ChangesTheDigest()
    {
        var batch = Batch(2);
        string digest = BatchDigest.Of(batch);
        var changed = new List<string>();

        foreach (var field in EventBatch.Descriptor.Fields.InFieldNumberOrder())
        {
            if (field.FieldNumber == EventBatch.EventsFieldNumber)
            {
                continue;
            }
            var other = batch.Clone();
            object value = field.Accessor.GetValue(other);
            object next = value switch
            {
                string s => s + "x",
                ulong u => u + 1,
                long l => l + 1,
                LossCounters loss => new LossCounters(loss) { SpoolCorruptEvents = loss.SpoolCorruptEvents + 1 },
                _ => throw new InvalidOperationException($"field {field.Name} of type {value?.GetType()}: teach this test to change it"),
            };
            field.Accessor.SetValue(other, next);
            if (BatchDigest.Of(other) != digest)
            {
                changed.Add(field.Name);
            }
        }
        var events = batch.Clone();
        events.Events[1].Records[0].Raw = ByteString.CopyFromUtf8("audit(1.000:1): other");

        Assert.Equal(EventBatch.Descriptor.Fields.InFieldNumberOrder().Where(f => f.FieldNumber != EventBatch.EventsFieldNumber).Select(f => f.Name), changed);
        Assert.NotEqual(digest, BatchDigest.Of(events));
    }
}
