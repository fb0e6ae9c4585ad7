using Sluice.Agent.Shipping;
using Sluice.Agent.Spool;
using Sluice.Protocol.V1;

namespace Sluice.Benchmarks.Delivery;

/// <summary>
/// Appending a whole prepared <see cref="EventBatch"/> message (the agent itself appends only what
/// the <see cref="Batcher"/> cuts): the same path as <see cref="DiskSpool.Append(CutBatch)"/>, with
/// the whole message as the cut's header and no serialized events after it.
/// </summary>
internal static class DiskSpoolAppend
{
    public static ulong Append(this DiskSpool spool, EventBatch batch)
    {
        ArgumentNullException.ThrowIfNull(spool);
        ArgumentNullException.ThrowIfNull(batch);
        return spool.Append(new CutBatch(batch, ReadOnlyMemory<byte>.Empty, 0, highestSerial: null));
    }
}
