namespace Sluice.Collector.Storage;

/// <summary>The one schema of every store: same tables, same column names and meanings.</summary>
internal static class StoreSchema
{
    /// <summary>
    /// 2: PostgreSQL events lost the (batch_id, ordinal) index (nothing looks events up by batch),
    /// and new SQLite files use 16 KiB pages.
    /// 3: events gained <c>paths</c> (the PATH record names, for the identity-file section of the
    /// compliance report), with the <c>events_denied_time</c> index and the <c>agent_rules</c> table.
    /// 4: <c>events_type_time</c> leaves out events whose first record is SYSCALL (see <see cref="UnindexedFirstType"/>).
    /// 5: events' exact copies are written compressed, in chunks of consecutive events, to <c>event_chunks</c>;
    /// their <c>payload</c> is empty (see <see cref="EventChunks"/>). Rows written before keep their payload.
    /// 6: a batch is keyed on (agent, epoch, sequence) and keeps a digest of its content; batches and heartbeats
    /// gained the loss columns of quarantine and spool corruption (<see cref="LossColumns.AddedInVersion6"/>) and
    /// the epoch; events gained <c>time_adjusted</c>; refused batches are kept in <c>refusals</c>.
    /// 7: central policy. <c>policies</c> (one per group) and <c>policy_history</c> (every set); agents gained their
    /// group and the policy state their last heartbeat reported (<see cref="AgentPolicyColumns"/>), heartbeats the
    /// group and the policy hashes (<see cref="HeartbeatColumns.AddedInVersion7"/>).
    /// 8: retention. <c>prunes</c> records each prune; <c>pruned_batches</c> and <c>pruned_epochs</c> keep what a prune
    /// must remember about batches it deleted in part or whole (see <see cref="RetentionTables"/>).
    /// 9: process context. Events gained <c>context</c> (the agent's ProcessContext bytes) and the columns search and the
    /// report use, <c>parent_exe</c>, <c>parent_pid</c>, <c>container_id</c>, <c>container_runtime</c>, <c>unit</c>,
    /// <c>parent_chain</c> (<see cref="EventColumns.AddedInVersion9"/>, <see cref="ContextColumns"/>), with
    /// <see cref="ContextIndexes"/>. Events stored before have NULL there, and no context in their exact copy.
    /// </summary>
    public const int Version = 9;

    /// <summary>The columns of agents added in version 7: the agent's group and the policy state of its last heartbeat.</summary>
    public static readonly Column[] AgentPolicyColumns =
    [
        new("group_name", SqlType.Text, NotNull: true, Default: "'default'"),
        new("policy_hash", SqlType.Text, NotNull: true, Default: "''"),
        new("policy_refused_hash", SqlType.Text, NotNull: true, Default: "''"),
        new("policy_refusal", SqlType.Text, NotNull: true, Default: "''"),
        new("policy_reported_ms", SqlType.Int, NotNull: false),
    ];

    /// <summary>
    /// The first record type that <c>events_type_time</c> does not index. It is that of nearly every
    /// kernel event, so an index on it selects nothing, and leaving it out spares one index insert per
    /// such event (about 1 µs in SQLite). A query by record type uses the index only if it says, in
    /// its text, <c>first_type &lt;&gt; 'SYSCALL'</c>: <see cref="FirstTypeIn"/> writes that.
    /// </summary>
    public const string UnindexedFirstType = "SYSCALL";

    /// <summary>The condition "first_type is one of <paramref name="names"/>", written so that it can use <c>events_type_time</c>.</summary>
    /// <param name="names">The parameter names holding the types, with their '@'.</param>
    public static string FirstTypeIn(IEnumerable<string> names) =>
        $"(first_type <> '{UnindexedFirstType}' AND first_type IN ({string.Join(", ", names)}))";

    /// <summary>The statements that bring a store of schema version <paramref name="from"/> to <see cref="Version"/>, per store.</summary>
    /// <remarks>
    /// The collector runs these itself when it opens an older store (<see cref="CanUpgrade"/>), in the transaction
    /// that then runs <see cref="Ddl"/> again: tables and indexes that the schema creates with IF NOT EXISTS
    /// (<c>event_chunks</c> of version 5 among them) come from there; only what that cannot do is listed.
    /// Events stored before version 5 keep their payload in their row and are read from there. Events stored before version 3 keep a
    /// NULL <c>paths</c>: the report's identity-file writes count only events stored since.
    /// </remarks>
    public static string Upgrade(StoreKind kind, long from)
    {
        var d = SqlDialect.For(kind);
        var steps = new List<string>();
        if (from < 2 && kind == StoreKind.Postgres)
        {
            steps.Add("DROP INDEX IF EXISTS events_batch;");
        }
        if (from < 3)
        {
            steps.Add(AddColumn("events", EventColumns.Named("paths"), d));
        }
        if (from < 4)
        {
            // Recreated, partial, when the collector next opens the store.
            steps.Add("DROP INDEX IF EXISTS events_type_time;");
        }
        if (from < 6)
        {
            foreach (string table in new[] { "batches", "heartbeats" })
            {
                foreach (string column in LossColumns.AddedInVersion6)
                {
                    steps.Add($"ALTER TABLE {table} ADD COLUMN {column} {d.Int} NOT NULL DEFAULT 0;");
                }
            }
            steps.Add(AddColumn("events", EventColumns.Named("time_adjusted"), d));
            steps.Add(AddColumn("heartbeats", HeartbeatColumns.Table["epoch"], d));
            steps.Add($"ALTER TABLE agents ADD COLUMN refusals_unrecorded {d.Int} NOT NULL DEFAULT 0;");
            if (kind == StoreKind.Postgres)
            {
                foreach (string column in BatchColumns.AddedInVersion6)
                {
                    steps.Add(AddColumn("batches", BatchColumns.Table[column], d));
                }
                // The key gains the epoch: the constraint PostgreSQL named for UNIQUE (agent, sequence) gives way
                // to the one it names for UNIQUE (agent, epoch, sequence) in a new store.
                steps.Add("ALTER TABLE batches DROP CONSTRAINT IF EXISTS batches_agent_sequence_key;");
                steps.Add("ALTER TABLE batches ADD CONSTRAINT batches_agent_epoch_sequence_key UNIQUE (agent, epoch, sequence);");
            }
            else
            {
                // SQLite cannot drop a table's UNIQUE constraint: the table is built again with the new key and
                // its rows copied (those of before get epoch '', start 1, digest ''). Its indexes are created
                // again when the collector next opens the store.
                string[] kept = ["id", .. BatchColumns.Names.Except(BatchColumns.AddedInVersion6)];
                steps.Add(BatchesTable(d, "batches_v6").Trim());
                steps.Add($"INSERT INTO batches_v6 ({string.Join(", ", kept)}) SELECT {string.Join(", ", kept)} FROM batches;");
                steps.Add("DROP TABLE batches;");
                steps.Add("ALTER TABLE batches_v6 RENAME TO batches;");
            }
        }
        if (from < 7)
        {
            foreach (var column in AgentPolicyColumns)
            {
                steps.Add(AddColumn("agents", column, d));
            }
            foreach (string column in HeartbeatColumns.AddedInVersion7)
            {
                steps.Add(AddColumn("heartbeats", HeartbeatColumns.Table[column], d));
            }
        }
        if (from < 8)
        {
            steps.Add(RetentionTables(d).Trim());
        }
        if (from < 9)
        {
            foreach (string column in EventColumns.AddedInVersion9)
            {
                steps.Add(AddColumn("events", EventColumns.Named(column), d));
            }
        }
        steps.Add($"UPDATE schema_info SET version = {Version};");
        return string.Join(" ", steps);
    }

    /// <summary>True when a store of schema <paramref name="found"/> is brought to <see cref="Version"/> by <see cref="Upgrade"/> when it is opened.</summary>
    public static bool CanUpgrade(long found) => found is >= 1 and < Version;

    /// <summary>The line a collector logs when it upgraded a store as it opened it.</summary>
    public static string Upgraded(string store, long from) => $"upgraded store from schema {from} to {Version}: {store}";

    /// <summary>Why a store of another schema version cannot be opened, and what to do about it.</summary>
    public static string VersionMismatch(string store, StoreKind kind, long found) => found < Version
        ? $"{store} has schema version {found}, older than this collector's {Version}. " +
          (found >= 1
              ? $"Upgrade it in place by running, in one transaction: {Upgrade(kind, found)} "
              : "") +
          "Or export its events with the collector version that wrote it (sluice-collector export) and start this one on a new store."
        : $"{store} has schema version {found}, newer than this collector's {Version}: run a collector of that version or later.";

    /// <summary>
    /// The tables of retention (version 8). <c>prunes</c>: one row per prune that was run for real (not a dry run),
    /// for the audit trail: the report shows each in its audit-system changes. <c>pruned_batches</c>: per batch, how
    /// many of its events prunes deleted while the batch row stayed (some of its events were kept, or its interval
    /// starts at or after the cutoff); a batch goes, with its chunks, once none of its events remain.
    /// <c>pruned_epochs</c>: per agent and epoch, the sequences below <c>next_sequence</c> were in batches a prune
    /// deleted, so that the delivery facts do not count them missing.
    /// </summary>
    public static string RetentionTables(SqlDialect d) => $"""
        CREATE TABLE IF NOT EXISTS prunes (
            id {d.Id},
            started_ms {d.Int} NOT NULL,
            finished_ms {d.Int} NOT NULL,
            host {d.Text} NOT NULL,
            user_name {d.Text} NOT NULL,
            version {d.Text} NOT NULL,
            store {d.Text} NOT NULL,
            older_than_days {d.Int} NOT NULL,
            cutoff_ms {d.Int} NOT NULL,
            days {d.Int} NOT NULL,
            first_day_ms {d.Int},
            last_day_ms {d.Int},
            days_skipped {d.Int} NOT NULL,
            events {d.Int} NOT NULL,
            batches {d.Int} NOT NULL,
            event_chunks {d.Int} NOT NULL,
            heartbeats {d.Int} NOT NULL,
            refusals {d.Int} NOT NULL,
            status {d.Text} NOT NULL
        );
        CREATE INDEX IF NOT EXISTS prunes_started ON prunes (started_ms);
        CREATE TABLE IF NOT EXISTS pruned_batches (
            batch_id {d.Int} NOT NULL PRIMARY KEY,
            events {d.Int} NOT NULL
        );
        CREATE TABLE IF NOT EXISTS pruned_epochs (
            agent {d.Int} NOT NULL REFERENCES agents(id),
            epoch {d.Text} NOT NULL,
            next_sequence {d.Int} NOT NULL,
            PRIMARY KEY (agent, epoch)
        );
        """;

    /// <summary>A column added to <paramref name="table"/> as the table declares it.</summary>
    private static string AddColumn(string table, Column column, SqlDialect d) => $"ALTER TABLE {table} ADD COLUMN {column.Definition(d)};";

    /// <summary>The batches table, named <paramref name="name"/> (another name when an upgrade rebuilds it).</summary>
    private static string BatchesTable(SqlDialect d, string name) => $"""
        CREATE TABLE IF NOT EXISTS {name} (
            id {d.Id},
            {Column.Definitions(BatchColumns.Table.Columns, d)},
            UNIQUE (agent, epoch, sequence)
        );
        """;

    /// <summary>
    /// Indexes for <see cref="DeliverySql"/>, created once the store's version is known to be this one (they name
    /// columns of schema 6, which a store of an older version does not have until it is upgraded). Each batch
    /// adds one entry to each; a batch holds up to thousands of events, so that is a small part of its cost.
    /// </summary>
    /// <remarks>
    /// <c>batches_key_cover</c>: the key with what the delivery facts read per batch, so that they read this index
    /// alone, in key order (no sort of an agent's batches). <c>batches_agent_boot</c>: the same for boot ids.
    /// <c>batches_spool_loss</c>: the few batches that report spool loss, to sum what the agent explained.
    /// </remarks>
    public const string DeliveryIndexes = """
        CREATE INDEX IF NOT EXISTS batches_key_cover ON batches (agent, epoch, sequence, epoch_start_sequence, received_ms, created_ms);
        CREATE INDEX IF NOT EXISTS batches_agent_boot ON batches (agent, boot_id, received_ms, created_ms);
        CREATE INDEX IF NOT EXISTS batches_spool_loss ON batches (agent) WHERE spool_dropped_batches > 0 OR spool_corrupt_batches > 0;
        """;

    /// <summary>
    /// Indexes for the event search by parent exe, container and unit (<see cref="EventSearchSql"/>), created, like
    /// <see cref="DeliveryIndexes"/>, once the store is known to be of this version (they name columns of schema 9).
    /// Partial: an event without the field (every event of an agent without enrichment) costs no entry. On PostgreSQL
    /// they are declared on the partitioned events table, so every day partition has them, those of before included.
    /// </summary>
    public const string ContextIndexes = """
        CREATE INDEX IF NOT EXISTS events_parent_exe_time ON events (parent_exe, time_ms) WHERE parent_exe IS NOT NULL;
        CREATE INDEX IF NOT EXISTS events_container_time ON events (container_id, time_ms) WHERE container_id IS NOT NULL;
        CREATE INDEX IF NOT EXISTS events_unit_time ON events (unit, time_ms) WHERE unit IS NOT NULL;
        """;

    public static string Ddl(SqlDialect d) => $"""
        CREATE TABLE IF NOT EXISTS schema_info (version {d.Int} NOT NULL);

        -- One row per agent ever seen. duplicates counts resent batches acknowledged but not stored.
        CREATE TABLE IF NOT EXISTS agents (
            id {d.Id},
            agent_id {d.Text} NOT NULL UNIQUE,
            hostname {d.Text} NOT NULL,
            boot_id {d.Text} NOT NULL,
            first_seen_ms {d.Int} NOT NULL,
            last_seen_ms {d.Int} NOT NULL,
            last_heartbeat_ms {d.Int},
            version {d.Text},
            rules_hash {d.Text} NOT NULL DEFAULT '',
            duplicates {d.Int} NOT NULL DEFAULT 0,
            -- Refusals not kept in the refusals table because the agent's rows there reached their cap.
            refusals_unrecorded {d.Int} NOT NULL DEFAULT 0,
            -- The agent's group at the collector, and the central policy its last heartbeat reported: the hash in force
            -- ('' for its local files), the hash it refused and why (bounded), and when.
            {Column.Definitions(AgentPolicyColumns, d)}
        );

        -- One row per stored batch: the interval it covers and the loss counted in it.
        {BatchesTable(d, "batches")}
        CREATE INDEX IF NOT EXISTS batches_agent_interval ON batches (agent, interval_start_ms);
        CREATE INDEX IF NOT EXISTS batches_interval ON batches (interval_start_ms);

        -- One row per event. Its exact copy, the protobuf sluice.v1.Event with the raw records, is in
        -- event_chunks, and payload is empty; in stores older than schema 5, payload holds it.
        -- The other columns are for finding events; see EventSummary.
        CREATE TABLE IF NOT EXISTS events (
            {d.EventsRowId}
            {Column.Definitions(EventColumns.Columns, d)}
        ){d.EventsOptions};
        CREATE INDEX IF NOT EXISTS events_time ON events (time_ms);
        CREATE INDEX IF NOT EXISTS events_agent_time ON events (agent, time_ms);
        CREATE INDEX IF NOT EXISTS events_key_time ON events (key, time_ms) WHERE key IS NOT NULL;
        CREATE INDEX IF NOT EXISTS events_auid_time ON events (auid, time_ms) WHERE auid IS NOT NULL;
        CREATE INDEX IF NOT EXISTS events_syscall_time ON events (syscall, time_ms) WHERE syscall IS NOT NULL;
        CREATE INDEX IF NOT EXISTS events_type_time ON events (first_type, time_ms) WHERE first_type <> '{UnindexedFirstType}';
        CREATE INDEX IF NOT EXISTS events_exe_time ON events (exe, time_ms) WHERE exe IS NOT NULL;
        -- Access failures (EACCES, EPERM) for the compliance report: few rows, so a small partial index.
        CREATE INDEX IF NOT EXISTS events_denied_time ON events (time_ms) WHERE exit IN (-13, -1);

        -- The exact copies of events, {EventChunks.EventsPerChunk} consecutive events of a batch per row,
        -- compressed (see EventChunks): event (batch_id, ordinal) is in chunk ordinal / {EventChunks.EventsPerChunk}.
        CREATE TABLE IF NOT EXISTS event_chunks (
            batch_id {d.Int} NOT NULL,
            chunk {d.Int} NOT NULL,
            data {d.Blob} NOT NULL,
            PRIMARY KEY (batch_id, chunk)
        );
        {d.ChunksOptions}

        -- Every heartbeat, for coverage intervals: when the agent was up and what it reported.
        CREATE TABLE IF NOT EXISTS heartbeats (
            {Column.Definitions(HeartbeatColumns.Table.Columns, d)}
        );
        CREATE INDEX IF NOT EXISTS heartbeats_agent_time ON heartbeats (agent, time_ms);

        -- Batches refused after authentication (INVALID_ARGUMENT, ALREADY_EXISTS, a permanent store error),
        -- one row per key and status however often it is resent; count says how often. Not stored as
        -- events, so each is loss, and its sequence is not a delivery gap. Capped per agent (see
        -- agents.refusals_unrecorded).
        CREATE TABLE IF NOT EXISTS refusals (
            agent {d.Int} NOT NULL REFERENCES agents(id),
            epoch {d.Text} NOT NULL,
            sequence {d.Int} NOT NULL,
            status {d.Text} NOT NULL,
            reason {d.Text} NOT NULL,
            event_count {d.Int} NOT NULL,
            digest {d.Text} NOT NULL,
            first_ms {d.Int} NOT NULL,
            last_ms {d.Int} NOT NULL,
            count {d.Int} NOT NULL,
            UNIQUE (agent, epoch, sequence, status)
        );
        CREATE INDEX IF NOT EXISTS refusals_first ON refusals (first_ms);

        -- Central policy: the audit rules and filters the agents of a group are to run, one row per group
        -- (sluice-collector policy set); hash is PolicyDigest's. Every set is also kept in policy_history.
        CREATE TABLE IF NOT EXISTS policies (
            group_name {d.Text} NOT NULL PRIMARY KEY,
            hash {d.Text} NOT NULL,
            rules {d.Text} NOT NULL,
            filters {d.Text} NOT NULL,
            set_ms {d.Int} NOT NULL,
            set_by {d.Text} NOT NULL
        );
        CREATE TABLE IF NOT EXISTS policy_history (
            group_name {d.Text} NOT NULL,
            hash {d.Text} NOT NULL,
            set_ms {d.Int} NOT NULL,
            set_by {d.Text} NOT NULL,
            rules_lines {d.Int} NOT NULL,
            filters_bytes {d.Int} NOT NULL
        );
        CREATE INDEX IF NOT EXISTS policy_history_group_time ON policy_history (group_name, set_ms);

        -- The rule lines (auditctl -l form) each agent reported, once per distinct rules hash, for baseline checks.
        CREATE TABLE IF NOT EXISTS agent_rules (
            agent {d.Int} NOT NULL REFERENCES agents(id),
            rules_hash {d.Text} NOT NULL,
            rules {d.Text} NOT NULL,
            first_seen_ms {d.Int} NOT NULL,
            last_seen_ms {d.Int} NOT NULL,
            UNIQUE (agent, rules_hash)
        );

        -- Retention: each prune, and what prunes remember of the batches they deleted (see RetentionTables).
        {RetentionTables(d)}
        """;
}
