namespace Sluice.Collector.Storage;

/// <summary>The statements both stores write with, each written once and given in a store's dialect.</summary>
/// <remarks>
/// Upserts use ON CONFLICT ... DO UPDATE, which both accept, with the stored row named by its table, as PostgreSQL
/// requires; only the function of the larger value and the parameters differ (<see cref="SqlDialect"/>).
/// </remarks>
internal static class WriteSql
{
    /// <summary>The batch's agent row, created or brought up to date. Returns the row's id.</summary>
    public static SqlStatement UpsertAgent(SqlDialect d) => d.Statement(p => $"""
        INSERT INTO agents (agent_id, hostname, boot_id, first_seen_ms, last_seen_ms, rules_hash)
        VALUES ({p("agent_id")}, {p("hostname")}, {p("boot_id")}, {p("now")}, {p("now")}, {p("rules_hash")})
        ON CONFLICT (agent_id) DO UPDATE SET
            hostname = excluded.hostname, boot_id = excluded.boot_id,
            last_seen_ms = {d.Greatest}(agents.last_seen_ms, excluded.last_seen_ms),
            rules_hash = CASE WHEN excluded.rules_hash <> '' THEN excluded.rules_hash ELSE agents.rules_hash END
        RETURNING id
        """);

    /// <summary>The heartbeat's agent row, created or brought up to date. Returns the row's id.</summary>
    public static SqlStatement HeartbeatAgent(SqlDialect d) => d.Statement(p => $"""
        INSERT INTO agents (agent_id, hostname, boot_id, first_seen_ms, last_seen_ms, last_heartbeat_ms, version, rules_hash,
                            group_name, policy_hash, policy_refused_hash, policy_refusal, policy_reported_ms)
        VALUES ({p("agent_id")}, {p("hostname")}, {p("boot_id")}, {p("now")}, {p("now")}, {p("time")}, {p("version")}, {p("rules_hash")},
                {p("group")}, {p("policy_hash")}, {p("policy_refused_hash")}, {p("policy_refusal")}, {p("now")})
        ON CONFLICT (agent_id) DO UPDATE SET
            hostname = excluded.hostname, boot_id = excluded.boot_id, version = excluded.version,
            group_name = excluded.group_name, policy_hash = excluded.policy_hash, policy_refused_hash = excluded.policy_refused_hash,
            policy_refusal = excluded.policy_refusal, policy_reported_ms = excluded.policy_reported_ms,
            last_seen_ms = {d.Greatest}(agents.last_seen_ms, excluded.last_seen_ms),
            last_heartbeat_ms = {d.Greatest}(coalesce(agents.last_heartbeat_ms, 0), excluded.last_heartbeat_ms),
            rules_hash = CASE WHEN excluded.rules_hash <> '' THEN excluded.rules_hash ELSE agents.rules_hash END
        RETURNING id
        """);

    /// <summary>The batch row (<see cref="BatchColumns"/>), unless its key is taken. Returns its id, or nothing.</summary>
    public static SqlStatement InsertBatch(SqlDialect d) => d.Statement(p => $"""
        INSERT INTO batches ({string.Join(", ", BatchColumns.Names)})
        VALUES ({string.Join(", ", BatchColumns.Names.Select(p))})
        ON CONFLICT (agent, epoch, sequence) DO NOTHING
        RETURNING id
        """);

    /// <summary>The digest of the batch stored under a key.</summary>
    public static SqlStatement StoredDigest(SqlDialect d) => d.Statement(p =>
        $"SELECT digest FROM batches WHERE agent = {p("agent")} AND epoch = {p("epoch")} AND sequence = {p("sequence")}");

    /// <summary>One more resent batch acknowledged but not stored.</summary>
    public static SqlStatement CountDuplicate(SqlDialect d) => d.Statement(p => $"UPDATE agents SET duplicates = duplicates + 1 WHERE id = {p("id")}");

    /// <summary>The heartbeat row (<see cref="HeartbeatColumns"/>).</summary>
    public static SqlStatement InsertHeartbeat(SqlDialect d) => d.Statement(p => $"""
        INSERT INTO heartbeats ({string.Join(", ", HeartbeatColumns.All)})
        VALUES ({string.Join(", ", HeartbeatColumns.All.Select(p))})
        """);
}
