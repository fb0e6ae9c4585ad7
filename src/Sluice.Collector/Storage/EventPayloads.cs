using System.Buffers;
using Google.Protobuf;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Storage;

/// <summary>The protobuf payloads of a batch's events, serialised into one pooled buffer instead of an array each.</summary>
internal sealed class EventPayloads : IDisposable
{
    private byte[] _buffer;
    private readonly int[] _ends;

    private EventPayloads(byte[] buffer, int[] ends)
    {
        _buffer = buffer;
        _ends = ends;
    }

    public static EventPayloads From(EventBatch batch)
    {
        var events = batch.Events;
        var ends = new int[events.Count];
        int total = 0;
        for (int i = 0; i < events.Count; i++)
        {
            total += events[i].CalculateSize();
            ends[i] = total;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(total, 1));
        int start = 0;
        for (int i = 0; i < events.Count; i++)
        {
            events[i].WriteTo(buffer.AsSpan(start, ends[i] - start));
            start = ends[i];
        }
        return new EventPayloads(buffer, ends);
    }

    public ReadOnlyMemory<byte> this[int index]
    {
        get
        {
            int start = index == 0 ? 0 : _ends[index - 1];
            return _buffer.AsMemory(start, _ends[index] - start);
        }
    }

    public void Dispose()
    {
        var buffer = Interlocked.Exchange(ref _buffer, []);
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
