using Sluice.Protocol.V1;

namespace Sluice.Agent.Shipping;

/// <summary>
/// A batch as the <see cref="Batcher"/> cuts it: the <see cref="EventBatch"/> fields other than
/// its events (<see cref="Header"/>, whose <c>Events</c> is empty), and the events already
/// serialized, each one as the <c>events</c> field (8) of a serialized EventBatch. Header bytes
/// followed by <see cref="Events"/> are a serialized EventBatch: protobuf parsers take fields in
/// any order, and repeated fields are concatenated.
/// </summary>
/// <remarks>
/// The batcher reuses the events buffer for the next batch as soon as the sink returns: the
/// sink copies what it keeps (the spool writes it) and does not hold on to <see cref="Events"/>.
/// </remarks>
internal readonly struct CutBatch
{
    internal CutBatch(EventBatch header, ReadOnlyMemory<byte> events, int eventCount, uint? highestSerial)
    {
        Header = header;
        Events = events;
        EventCount = eventCount;
        HighestSerial = highestSerial;
    }

    /// <summary>Agent, interval, loss counters, rules hash; no events.</summary>
    public EventBatch Header { get; }

    /// <summary>The serialized events: valid until the sink returns.</summary>
    public ReadOnlyMemory<byte> Events { get; }

    public int EventCount { get; }

    /// <summary>The highest audit serial among the events, modulo 2^32 as the kernel counts; null without events.</summary>
    public uint? HighestSerial { get; }
}
