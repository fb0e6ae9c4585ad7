using Sluice.Protocol.V1;
using static Sluice.Collector.Storage.ColumnTable<Sluice.Collector.Storage.HeartbeatRow>;

namespace Sluice.Collector.Storage;

/// <summary>A heartbeat's row of the heartbeats table: where its values come from.</summary>
/// <param name="Agent">The agent's row id.</param>
/// <param name="Group">The agent's group at the collector (its token line's group=).</param>
internal sealed record HeartbeatRow(AgentHeartbeat Heartbeat, long Agent, long ReceivedUnixMs, string Group = Auth.AgentTokens.DefaultGroup)
{
    /// <summary>The loss totals in <see cref="LossColumns.Names"/> order.</summary>
    public long[] Loss { get; } = LossColumns.Values(Heartbeat.LossTotals);
}

/// <summary>The heartbeats table's columns, in table order, with their values: one row per heartbeat.</summary>
internal static class HeartbeatColumns
{
    /// <summary>KernelSettings (the kernel's audit_status), prefixed status_ so they don't collide with the loss columns; NULL when the agent sent none.</summary>
    private static readonly TableColumn<HeartbeatRow>[] Kernel =
    [
        NullableInt("status_enabled", r => r.Heartbeat.Kernel?.Enabled),
        NullableInt("status_failure", r => r.Heartbeat.Kernel?.Failure),
        NullableInt("status_pid", r => r.Heartbeat.Kernel?.Pid),
        NullableInt("status_rate_limit", r => r.Heartbeat.Kernel?.RateLimit),
        NullableInt("status_backlog_limit", r => r.Heartbeat.Kernel?.BacklogLimit),
        NullableInt("status_backlog_wait_time", r => r.Heartbeat.Kernel?.BacklogWaitTime),
        NullableInt("status_lost", r => r.Heartbeat.Kernel?.Lost),
        NullableInt("status_backlog", r => r.Heartbeat.Kernel?.Backlog),
        NullableInt("status_backlog_wait_time_actual", r => r.Heartbeat.Kernel?.BacklogWaitTimeActual),
    ];

    public static readonly ColumnTable<HeartbeatRow> Table = new(
    [
        Int("agent", r => r.Agent, references: "agents(id)"),
        Int("received_ms", r => r.ReceivedUnixMs),
        Int("time_ms", r => r.Heartbeat.TimeUnixMs),
        Int("started_ms", r => r.Heartbeat.StartedUnixMs),
        Text("boot_id", r => r.Heartbeat.BootId),
        Text("hostname", r => r.Heartbeat.Hostname),
        Text("version", r => r.Heartbeat.Version),
        Text("mode", r => r.Heartbeat.Mode),
        Text("rules_hash", r => r.Heartbeat.RulesHash),
        Int("rules_count", r => r.Heartbeat.RulesCount),
        .. Kernel,
        .. LossColumns.Names.Select((name, i) => Int(name, r => r.Loss[i])),
        Int("spool_depth_bytes", r => Clamp(r.Heartbeat.SpoolDepthBytes)),
        Int("spool_depth_batches", r => Clamp(r.Heartbeat.SpoolDepthBatches)),
        Int("socket_buffer_bytes", r => r.Heartbeat.SocketBufferBytes),
        Int("drain_interval_ms", r => r.Heartbeat.DrainIntervalMs),
        Text("epoch", r => r.Heartbeat.Epoch, defaultValue: "''"),
        Text("group_name", r => r.Group, defaultValue: "'default'"),
        Text("policy_hash", r => r.Heartbeat.PolicyHash, defaultValue: "''"),
        Text("policy_refused_hash", r => r.Heartbeat.PolicyRefusedHash, defaultValue: "''"),
    ]);

    /// <summary>The columns added in schema version 7: the agent's group and the central policy it reported (the refusal's text is kept in agents only).</summary>
    public static readonly string[] AddedInVersion7 = ["group_name", "policy_hash", "policy_refused_hash"];

    public static readonly string[] KernelNames = [.. Kernel.Select(c => c.Column.Name)];

    public static string[] All => Table.Names;

    private static long Clamp(ulong v) => v > long.MaxValue ? long.MaxValue : (long)v;
}
