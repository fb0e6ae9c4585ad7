using Sluice.Protocol.V1;

namespace Sluice.Collector.Storage;

/// <summary>The columns of a batch's identity beyond (agent, sequence), in <see cref="StoreSchema.BatchColumns"/> order.</summary>
internal static class BatchKey
{
    /// <summary>epoch, epoch_start_sequence, digest, time_adjusted_events.</summary>
    /// <param name="digest">The batch's content digest (<see cref="BatchDigest"/>).</param>
    /// <param name="timeAdjustedEvents">Events indexed under the receive time (<see cref="IndexTimes.Adjusted"/>).</param>
    public static object[] Values(EventBatch batch, string digest, long timeAdjustedEvents = 0) =>
    [
        batch.Epoch,
        batch.EpochStartSequence is > 0 and <= long.MaxValue ? (long)batch.EpochStartSequence : 1L,
        digest,
        timeAdjustedEvents,
    ];

    /// <summary>
    /// Whether a batch whose digest is <paramref name="incoming"/> is a resend of the one stored under its key.
    /// Rows stored before schema 6 have no digest (''): taken as the same, as they were then.
    /// </summary>
    public static bool SameContent(string stored, string incoming) => stored.Length == 0 || stored == incoming;
}
