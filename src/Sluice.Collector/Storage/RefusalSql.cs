namespace Sluice.Collector.Storage;

/// <summary>Recording refused batches: the same statements in both stores.</summary>
internal static class RefusalSql
{
    /// <summary>Rows one agent may have in <c>refusals</c>; beyond, refusals of new keys only add to <c>agents.refusals_unrecorded</c>.</summary>
    public const int MaxRowsPerAgent = 10_000;

    /// <summary>Longest reason kept.</summary>
    public const int MaxReasonChars = 1024;

    /// <summary>Parameters: @agent, @epoch, @sequence, @status, @reason, @events, @digest, @now. Returns 1 when a row was written or counted.</summary>
    public static readonly string Upsert = $"""
        INSERT INTO refusals (agent, epoch, sequence, status, reason, event_count, digest, first_ms, last_ms, count)
        SELECT @agent, @epoch, @sequence, @status, @reason, @events, @digest, @now, @now, 1
        WHERE (SELECT COUNT(*) FROM refusals WHERE agent = @agent) < {MaxRowsPerAgent}
           OR EXISTS (SELECT 1 FROM refusals WHERE agent = @agent AND epoch = @epoch AND sequence = @sequence AND status = @status)
        ON CONFLICT (agent, epoch, sequence, status) DO UPDATE SET
            count = refusals.count + 1, last_ms = excluded.last_ms, reason = excluded.reason,
            event_count = excluded.event_count, digest = excluded.digest
        """;

    /// <summary>
    /// The refused batch's agent row, created if it is new; an existing one is left as it is, so a refused
    /// batch (an empty or hostile hostname, say) never rewrites what good batches recorded. Parameters:
    /// @agent_id, @hostname, @boot_id, @now. Returns the row's id.
    /// </summary>
    public const string AgentRow = """
        INSERT INTO agents (agent_id, hostname, boot_id, first_seen_ms, last_seen_ms)
        VALUES (@agent_id, @hostname, @boot_id, @now, @now)
        ON CONFLICT (agent_id) DO UPDATE SET agent_id = excluded.agent_id
        RETURNING id
        """;

    public const string CountUnrecorded = "UPDATE agents SET refusals_unrecorded = refusals_unrecorded + 1 WHERE id = @agent";

    /// <summary>Longest epoch kept: a refused batch's epoch may be what was wrong with it, and it is indexed.</summary>
    public const int MaxEpochChars = 64;

    public static string Reason(string reason) => reason.Length <= MaxReasonChars ? reason : reason[..MaxReasonChars] + "...";

    public static (string Name, object Value)[] Parameters(long agent, BatchRefusal r) =>
    [
        ("agent", agent), ("epoch", r.Epoch.Length <= MaxEpochChars ? r.Epoch : r.Epoch[..MaxEpochChars]), ("sequence", r.Sequence > long.MaxValue ? long.MaxValue : (long)r.Sequence),
        ("status", r.Status), ("reason", Reason(r.Reason)), ("events", (long)r.EventCount), ("digest", r.Digest.Length <= MaxEpochChars ? r.Digest : r.Digest[..MaxEpochChars]), ("now", r.ReceivedUnixMs),
    ];
}
