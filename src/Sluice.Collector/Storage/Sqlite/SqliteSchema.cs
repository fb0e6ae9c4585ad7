namespace Sluice.Collector.Storage.Sqlite;

/// <summary>The SQLite schema. Column names and meanings are the same as in the PostgreSQL store.</summary>
internal static class SqliteSchema
{
    public const int Version = 1;

    public static readonly string Ddl = $"""
        CREATE TABLE IF NOT EXISTS schema_info (version INTEGER NOT NULL);

        -- One row per agent ever seen. duplicates counts resent batches acknowledged but not stored.
        CREATE TABLE IF NOT EXISTS agents (
            id INTEGER PRIMARY KEY,
            agent_id TEXT NOT NULL UNIQUE,
            hostname TEXT NOT NULL,
            boot_id TEXT NOT NULL,
            first_seen_ms INTEGER NOT NULL,
            last_seen_ms INTEGER NOT NULL,
            last_heartbeat_ms INTEGER,
            version TEXT,
            rules_hash TEXT NOT NULL DEFAULT '',
            duplicates INTEGER NOT NULL DEFAULT 0
        );

        -- One row per stored batch: the interval it covers and the loss counted in it.
        CREATE TABLE IF NOT EXISTS batches (
            id INTEGER PRIMARY KEY,
            agent INTEGER NOT NULL REFERENCES agents(id),
            sequence INTEGER NOT NULL,
            hostname TEXT NOT NULL,
            boot_id TEXT NOT NULL,
            created_ms INTEGER NOT NULL,
            interval_start_ms INTEGER NOT NULL,
            interval_end_ms INTEGER NOT NULL,
            received_ms INTEGER NOT NULL,
            event_count INTEGER NOT NULL,
            rules_hash TEXT NOT NULL,
            {string.Join(",\n    ", LossColumns.Names.Select(n => n + " INTEGER NOT NULL"))},
            UNIQUE (agent, sequence)
        );
        CREATE INDEX IF NOT EXISTS batches_agent_interval ON batches (agent, interval_start_ms);
        CREATE INDEX IF NOT EXISTS batches_interval ON batches (interval_start_ms);

        -- One row per event. payload is the protobuf sluice.v1.Event, raw records included: the exact copy.
        -- The other columns are for finding events; see EventSummary.
        -- A rowid table: rows carry a payload of hundreds of bytes, which WITHOUT ROWID handles badly.
        CREATE TABLE IF NOT EXISTS events (
            id INTEGER PRIMARY KEY,
            batch_id INTEGER NOT NULL,
            ordinal INTEGER NOT NULL,
            agent INTEGER NOT NULL,
            time_ms INTEGER NOT NULL,
            serial INTEGER NOT NULL,
            node TEXT,
            first_type TEXT NOT NULL,
            record_types TEXT NOT NULL,
            syscall TEXT,
            success INTEGER,
            exit INTEGER,
            pid INTEGER,
            ppid INTEGER,
            uid INTEGER,
            auid INTEGER,
            euid INTEGER,
            ses INTEGER,
            key TEXT,
            exe TEXT,
            comm TEXT,
            argv TEXT,
            payload BLOB NOT NULL
        );
        CREATE INDEX IF NOT EXISTS events_time ON events (time_ms);
        CREATE INDEX IF NOT EXISTS events_agent_time ON events (agent, time_ms);
        CREATE INDEX IF NOT EXISTS events_key_time ON events (key, time_ms) WHERE key IS NOT NULL;
        CREATE INDEX IF NOT EXISTS events_auid_time ON events (auid, time_ms) WHERE auid IS NOT NULL;
        CREATE INDEX IF NOT EXISTS events_syscall_time ON events (syscall, time_ms) WHERE syscall IS NOT NULL;
        CREATE INDEX IF NOT EXISTS events_type_time ON events (first_type, time_ms);
        CREATE INDEX IF NOT EXISTS events_exe_time ON events (exe, time_ms) WHERE exe IS NOT NULL;

        -- Every heartbeat, for coverage intervals: when the agent was up and what it reported.
        CREATE TABLE IF NOT EXISTS heartbeats (
            agent INTEGER NOT NULL REFERENCES agents(id),
            received_ms INTEGER NOT NULL,
            time_ms INTEGER NOT NULL,
            started_ms INTEGER NOT NULL,
            boot_id TEXT NOT NULL,
            hostname TEXT NOT NULL,
            version TEXT NOT NULL,
            mode TEXT NOT NULL,
            rules_hash TEXT NOT NULL,
            rules_count INTEGER NOT NULL,
            {string.Join(",\n    ", HeartbeatColumns.KernelNames.Select(n => n + " INTEGER"))},
            {string.Join(",\n    ", LossColumns.Names.Select(n => n + " INTEGER NOT NULL"))},
            spool_depth_bytes INTEGER NOT NULL,
            spool_depth_batches INTEGER NOT NULL,
            socket_buffer_bytes INTEGER NOT NULL,
            drain_interval_ms INTEGER NOT NULL
        );
        CREATE INDEX IF NOT EXISTS heartbeats_agent_time ON heartbeats (agent, time_ms);
        """;
}
