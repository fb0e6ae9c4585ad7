using System.Buffers.Binary;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Spool;

/// <summary>
/// The loss the agent's delivery path itself causes, by kind, with the names of
/// <see cref="LossCounters"/>: batches the spool's cap dropped, batches the collector refused
/// (quarantined) and the quarantine's cap deleted, spool entries unreadable on disk. Immutable.
/// </summary>
/// <remarks>
/// The spool keeps what is not yet reported as one of these and adds it to the loss counters of
/// the next batch it appends; each entry's header records what its batch carries, so that a
/// carrier lost in turn hands its report on.
/// </remarks>
internal sealed record DeliveryLoss
{
    /// <summary>No loss.</summary>
    public static readonly DeliveryLoss None = new();

    /// <summary>Bytes of <see cref="Write"/>: eight little-endian u64, in the order of the properties.</summary>
    public const int EncodedSize = 8 * sizeof(ulong);

    public ulong SpoolDroppedBatches { get; init; }
    public ulong SpoolDroppedEvents { get; init; }
    public ulong QuarantinedBatches { get; init; }
    public ulong QuarantinedEvents { get; init; }
    public ulong QuarantineTrimmedBatches { get; init; }
    public ulong QuarantineTrimmedEvents { get; init; }
    public ulong SpoolCorruptBatches { get; init; }
    public ulong SpoolCorruptEvents { get; init; }

    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsNone => Equals(None);

    public static DeliveryLoss operator +(DeliveryLoss a, DeliveryLoss b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (b.IsNone)
        {
            return a;
        }
        if (a.IsNone)
        {
            return b;
        }
        return new DeliveryLoss
        {
            SpoolDroppedBatches = a.SpoolDroppedBatches + b.SpoolDroppedBatches,
            SpoolDroppedEvents = a.SpoolDroppedEvents + b.SpoolDroppedEvents,
            QuarantinedBatches = a.QuarantinedBatches + b.QuarantinedBatches,
            QuarantinedEvents = a.QuarantinedEvents + b.QuarantinedEvents,
            QuarantineTrimmedBatches = a.QuarantineTrimmedBatches + b.QuarantineTrimmedBatches,
            QuarantineTrimmedEvents = a.QuarantineTrimmedEvents + b.QuarantineTrimmedEvents,
            SpoolCorruptBatches = a.SpoolCorruptBatches + b.SpoolCorruptBatches,
            SpoolCorruptEvents = a.SpoolCorruptEvents + b.SpoolCorruptEvents,
        };
    }

    /// <summary>The delivery kinds a batch's loss counters report (none when <paramref name="loss"/> is null).</summary>
    public static DeliveryLoss From(LossCounters? loss)
    {
        if (loss is null)
        {
            return None;
        }
        var d = new DeliveryLoss
        {
            SpoolDroppedBatches = loss.SpoolDroppedBatches,
            SpoolDroppedEvents = loss.SpoolDroppedEvents,
            QuarantinedBatches = loss.QuarantinedBatches,
            QuarantinedEvents = loss.QuarantinedEvents,
            QuarantineTrimmedBatches = loss.QuarantineTrimmedBatches,
            QuarantineTrimmedEvents = loss.QuarantineTrimmedEvents,
            SpoolCorruptBatches = loss.SpoolCorruptBatches,
            SpoolCorruptEvents = loss.SpoolCorruptEvents,
        };
        return d.IsNone ? None : d;
    }

    /// <summary>Adds these counts to <paramref name="loss"/>.</summary>
    public void AddTo(LossCounters loss)
    {
        ArgumentNullException.ThrowIfNull(loss);
        loss.SpoolDroppedBatches += SpoolDroppedBatches;
        loss.SpoolDroppedEvents += SpoolDroppedEvents;
        loss.QuarantinedBatches += QuarantinedBatches;
        loss.QuarantinedEvents += QuarantinedEvents;
        loss.QuarantineTrimmedBatches += QuarantineTrimmedBatches;
        loss.QuarantineTrimmedEvents += QuarantineTrimmedEvents;
        loss.SpoolCorruptBatches += SpoolCorruptBatches;
        loss.SpoolCorruptEvents += SpoolCorruptEvents;
    }

    internal void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(destination, SpoolDroppedBatches);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], SpoolDroppedEvents);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[16..], QuarantinedBatches);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[24..], QuarantinedEvents);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[32..], QuarantineTrimmedBatches);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[40..], QuarantineTrimmedEvents);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[48..], SpoolCorruptBatches);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[56..], SpoolCorruptEvents);
    }

    internal static DeliveryLoss Read(ReadOnlySpan<byte> source)
    {
        var d = new DeliveryLoss
        {
            SpoolDroppedBatches = BinaryPrimitives.ReadUInt64LittleEndian(source),
            SpoolDroppedEvents = BinaryPrimitives.ReadUInt64LittleEndian(source[8..]),
            QuarantinedBatches = BinaryPrimitives.ReadUInt64LittleEndian(source[16..]),
            QuarantinedEvents = BinaryPrimitives.ReadUInt64LittleEndian(source[24..]),
            QuarantineTrimmedBatches = BinaryPrimitives.ReadUInt64LittleEndian(source[32..]),
            QuarantineTrimmedEvents = BinaryPrimitives.ReadUInt64LittleEndian(source[40..]),
            SpoolCorruptBatches = BinaryPrimitives.ReadUInt64LittleEndian(source[48..]),
            SpoolCorruptEvents = BinaryPrimitives.ReadUInt64LittleEndian(source[56..]),
        };
        return d.IsNone ? None : d;
    }
}
