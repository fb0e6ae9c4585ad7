using Sluice.Protocol.V1;

namespace Sluice.Collector.Storage;

/// <summary>The columns of a batch's identity beyond (agent, sequence), in <see cref="StoreSchema.BatchColumns"/> order.</summary>
internal static class BatchKey
{
    /// <summary>epoch, epoch_start_sequence, digest, time_adjusted_events.</summary>
    /// <param name="timeAdjustedEvents">Events indexed under the receive time (<see cref="IndexTimes.Adjusted"/>).</param>
    public static object[] Values(EventBatch batch, long timeAdjustedEvents = 0) =>
    [
        batch.Epoch,
        batch.EpochStartSequence is > 0 and <= long.MaxValue ? (long)batch.EpochStartSequence : 1L,
        "",
        timeAdjustedEvents,
    ];
}
