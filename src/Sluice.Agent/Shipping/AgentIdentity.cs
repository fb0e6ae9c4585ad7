namespace Sluice.Agent.Shipping;

/// <summary>Who this agent is, stamped on every batch and heartbeat.</summary>
/// <param name="AgentId">Stable per host; the collector deduplicates on (agent id, sequence).</param>
/// <param name="Hostname">The host name, for people reading reports.</param>
/// <param name="BootId">The kernel's boot id (/proc/sys/kernel/random/boot_id), so events are tied to a boot.</param>
internal sealed record AgentIdentity(string AgentId, string Hostname, string BootId)
{
    /// <summary>This host: agent id from the config or /etc/machine-id, the host name, and the boot id.</summary>
    public static AgentIdentity ForThisHost(string? configuredAgentId = null)
    {
        string agentId = !string.IsNullOrWhiteSpace(configuredAgentId) ? configuredAgentId : ReadFirstLine("/etc/machine-id")
            ?? throw new InvalidOperationException("no agent id configured and /etc/machine-id is unreadable");
        return new AgentIdentity(agentId, Environment.MachineName, ReadFirstLine("/proc/sys/kernel/random/boot_id") ?? "");
    }

    private static string? ReadFirstLine(string path)
    {
        try
        {
            string? line = File.ReadLines(path).FirstOrDefault()?.Trim();
            return string.IsNullOrEmpty(line) ? null : line;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
