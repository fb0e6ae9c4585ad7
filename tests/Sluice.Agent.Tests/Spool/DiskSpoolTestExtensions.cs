using Sluice.Agent.Shipping;
using Sluice.Agent.Spool;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Tests.Spool;

/// <summary>
/// Appending a whole <see cref="EventBatch"/> message, as the tests build them. The agent itself
/// appends only what the <see cref="Batcher"/> cuts (<see cref="DiskSpool.Append(CutBatch)"/>).
/// </summary>
internal static class DiskSpoolTestExtensions
{
    /// <summary>
    /// Appends <paramref name="batch"/>, events included, as a cut whose header is the whole message
    /// and after which no serialized events follow: the header's bytes alone are the serialized
    /// batch. Otherwise as <see cref="DiskSpool.Append(CutBatch)"/>.
    /// </summary>
    public static ulong Append(this DiskSpool spool, EventBatch batch)
    {
        ArgumentNullException.ThrowIfNull(spool);
        ArgumentNullException.ThrowIfNull(batch);
        return spool.Append(new CutBatch(batch, ReadOnlyMemory<byte>.Empty, 0, highestSerial: null));
    }
}
