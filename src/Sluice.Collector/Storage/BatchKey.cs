using Sluice.Protocol.V1;

namespace Sluice.Collector.Storage;

/// <summary>The columns of a batch's identity beyond (agent, sequence), in <see cref="StoreSchema.BatchColumns"/> order.</summary>
internal static class BatchKey
{
    /// <summary>epoch, epoch_start_sequence, digest, time_adjusted_events.</summary>
    public static object[] Values(EventBatch batch) =>
    [
        batch.Epoch,
        batch.EpochStartSequence is > 0 and <= long.MaxValue ? (long)batch.EpochStartSequence : 1L,
        "",
        0L,
    ];
}
