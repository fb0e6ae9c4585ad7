namespace Sluice.Collector.Storage.Postgres;

/// <summary>The PostgreSQL schema: the same tables and columns as the SQLite store, with events partitioned by day.</summary>
internal static class PostgresSchema
{
    public const int Version = 1;

    public static readonly string Ddl = $"""
        CREATE TABLE IF NOT EXISTS schema_info (version integer NOT NULL);

        CREATE TABLE IF NOT EXISTS agents (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            agent_id text NOT NULL UNIQUE,
            hostname text NOT NULL,
            boot_id text NOT NULL,
            first_seen_ms bigint NOT NULL,
            last_seen_ms bigint NOT NULL,
            last_heartbeat_ms bigint,
            version text,
            rules_hash text NOT NULL DEFAULT '',
            duplicates bigint NOT NULL DEFAULT 0
        );

        CREATE TABLE IF NOT EXISTS batches (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            agent bigint NOT NULL REFERENCES agents(id),
            sequence bigint NOT NULL,
            hostname text NOT NULL,
            boot_id text NOT NULL,
            created_ms bigint NOT NULL,
            interval_start_ms bigint NOT NULL,
            interval_end_ms bigint NOT NULL,
            received_ms bigint NOT NULL,
            event_count bigint NOT NULL,
            rules_hash text NOT NULL,
            {string.Join(",\n    ", LossColumns.Names.Select(n => n + " bigint NOT NULL"))},
            UNIQUE (agent, sequence)
        );
        CREATE INDEX IF NOT EXISTS batches_agent_interval ON batches (agent, interval_start_ms);
        CREATE INDEX IF NOT EXISTS batches_interval ON batches (interval_start_ms);

        -- Partitioned by day on time_ms; partitions events_pYYYYMMDD are created on demand.
        -- Indexes declared here are created on every partition.
        CREATE TABLE IF NOT EXISTS events (
            batch_id bigint NOT NULL,
            ordinal integer NOT NULL,
            agent bigint NOT NULL,
            time_ms bigint NOT NULL,
            serial bigint NOT NULL,
            node text,
            first_type text NOT NULL,
            record_types text NOT NULL,
            syscall text,
            success boolean,
            exit bigint,
            pid bigint,
            ppid bigint,
            uid bigint,
            auid bigint,
            euid bigint,
            ses bigint,
            key text,
            exe text,
            comm text,
            argv text,
            payload bytea NOT NULL
        ) PARTITION BY RANGE (time_ms);
        CREATE INDEX IF NOT EXISTS events_batch ON events (batch_id, ordinal);
        CREATE INDEX IF NOT EXISTS events_time ON events (time_ms);
        CREATE INDEX IF NOT EXISTS events_agent_time ON events (agent, time_ms);
        CREATE INDEX IF NOT EXISTS events_key_time ON events (key, time_ms) WHERE key IS NOT NULL;
        CREATE INDEX IF NOT EXISTS events_auid_time ON events (auid, time_ms) WHERE auid IS NOT NULL;
        CREATE INDEX IF NOT EXISTS events_syscall_time ON events (syscall, time_ms) WHERE syscall IS NOT NULL;
        CREATE INDEX IF NOT EXISTS events_type_time ON events (first_type, time_ms);
        CREATE INDEX IF NOT EXISTS events_exe_time ON events (exe, time_ms) WHERE exe IS NOT NULL;

        CREATE TABLE IF NOT EXISTS heartbeats (
            agent bigint NOT NULL REFERENCES agents(id),
            received_ms bigint NOT NULL,
            time_ms bigint NOT NULL,
            started_ms bigint NOT NULL,
            boot_id text NOT NULL,
            hostname text NOT NULL,
            version text NOT NULL,
            mode text NOT NULL,
            rules_hash text NOT NULL,
            rules_count bigint NOT NULL,
            {string.Join(",\n    ", HeartbeatColumns.KernelNames.Select(n => n + " bigint"))},
            {string.Join(",\n    ", LossColumns.Names.Select(n => n + " bigint NOT NULL"))},
            spool_depth_bytes bigint NOT NULL,
            spool_depth_batches bigint NOT NULL,
            socket_buffer_bytes bigint NOT NULL,
            drain_interval_ms bigint NOT NULL
        );
        CREATE INDEX IF NOT EXISTS heartbeats_agent_time ON heartbeats (agent, time_ms);
        """;

    public const long DayMs = 86_400_000;

    /// <summary>The partition holding events of <paramref name="day"/> (days since the epoch, UTC).</summary>
    public static string PartitionName(long day) =>
        "events_p" + DateTimeOffset.FromUnixTimeMilliseconds(day * DayMs).ToString("yyyyMMdd", System.Globalization.CultureInfo.InvariantCulture);
}
