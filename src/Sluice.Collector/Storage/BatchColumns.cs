using Sluice.Protocol.V1;
using static Sluice.Collector.Storage.ColumnTable<Sluice.Collector.Storage.BatchRow>;

namespace Sluice.Collector.Storage;

/// <summary>A stored batch's row of the batches table: where its values come from.</summary>
/// <param name="Agent">The agent's row id.</param>
/// <param name="Digest">The batch's content digest (<see cref="BatchDigest"/>).</param>
/// <param name="TimeAdjustedEvents">Events indexed under the receive time (<see cref="IndexTimes.Adjusted"/>).</param>
internal sealed record BatchRow(EventBatch Batch, long Agent, long ReceivedUnixMs, string Digest, long TimeAdjustedEvents)
{
    /// <summary>The loss counters in <see cref="LossColumns.Names"/> order.</summary>
    public long[] Loss { get; } = LossColumns.Values(Batch.Loss);
}

/// <summary>The batches table's columns (besides its id), in table order, with their values: one row per stored batch.</summary>
internal static class BatchColumns
{
    public static readonly ColumnTable<BatchRow> Table = new(
    [
        Int("agent", r => r.Agent, references: "agents(id)"),
        Int("sequence", r => (long)r.Batch.Sequence),
        Text("hostname", r => r.Batch.Hostname),
        Text("boot_id", r => r.Batch.BootId),
        Int("created_ms", r => r.Batch.CreatedUnixMs),
        Int("interval_start_ms", r => r.Batch.IntervalStartUnixMs),
        Int("interval_end_ms", r => r.Batch.IntervalEndUnixMs),
        Int("received_ms", r => r.ReceivedUnixMs),
        Int("event_count", r => r.Batch.Events.Count),
        Text("rules_hash", r => r.Batch.RulesHash),
        .. LossColumns.Names.Select((name, i) => Int(name, r => r.Loss[i])),
        Text("epoch", r => r.Batch.Epoch, defaultValue: "''",
            comments: ["The agent's spool identity (EventBatch.epoch; '' from agents that predate it) and where its sequences start."]),
        Int("epoch_start_sequence", r => r.Batch.EpochStartSequence is > 0 and <= long.MaxValue ? (long)r.Batch.EpochStartSequence : 1L, defaultValue: "1"),
        Text("digest", r => r.Digest, defaultValue: "''",
            comments: ["Digest of the batch's content: a resend carries the same, another batch under a taken key does not."]),
        Int("time_adjusted_events", r => r.TimeAdjustedEvents, defaultValue: "0",
            comments: ["Events whose time was outside the accepted bounds and were indexed under received_ms instead."]),
    ]);

    /// <summary>The columns schema 6 added (besides <see cref="LossColumns.AddedInVersion6"/>): the key's epoch, the digest and the adjusted times.</summary>
    public static readonly string[] AddedInVersion6 = ["epoch", "epoch_start_sequence", "digest", "time_adjusted_events"];

    public static string[] Names => Table.Names;
}
