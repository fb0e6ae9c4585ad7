using Sluice.Protocol.V1;

namespace Sluice.Collector.Storage;

/// <summary>The heartbeats table's columns in one order shared by both stores.</summary>
internal static class HeartbeatColumns
{
    /// <summary>KernelSettings (the kernel's audit_status), prefixed status_ so they don't collide with the loss columns; null when the agent sent none.</summary>
    public static readonly string[] KernelNames =
    [
        "status_enabled", "status_failure", "status_pid", "status_rate_limit", "status_backlog_limit",
        "status_backlog_wait_time", "status_lost", "status_backlog", "status_backlog_wait_time_actual",
    ];

    public static readonly string[] All =
    [
        "agent", "received_ms", "time_ms", "started_ms", "boot_id", "hostname", "version", "mode", "rules_hash", "rules_count",
        .. KernelNames,
        .. LossColumns.Names,
        "spool_depth_bytes", "spool_depth_batches", "socket_buffer_bytes", "drain_interval_ms", "epoch",
    ];

    /// <summary>Values in <see cref="All"/> order.</summary>
    public static object?[] Values(long agentRef, AgentHeartbeat h, long receivedUnixMs)
    {
        var k = h.Kernel;
        object?[] kernel = k is null
            ? new object?[KernelNames.Length]
            : [(long)k.Enabled, (long)k.Failure, (long)k.Pid, (long)k.RateLimit, (long)k.BacklogLimit,
               (long)k.BacklogWaitTime, (long)k.Lost, (long)k.Backlog, (long)k.BacklogWaitTimeActual];
        return
        [
            agentRef, receivedUnixMs, h.TimeUnixMs, h.StartedUnixMs, h.BootId, h.Hostname, h.Version, h.Mode, h.RulesHash, (long)h.RulesCount,
            .. kernel,
            .. LossColumns.Values(h.LossTotals).Cast<object?>(),
            Clamp(h.SpoolDepthBytes), Clamp(h.SpoolDepthBatches), (long)h.SocketBufferBytes, (long)h.DrainIntervalMs, h.Epoch,
        ];
    }

    private static long Clamp(ulong v) => v > long.MaxValue ? long.MaxValue : (long)v;
}
