using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Sluice.Agent.Shipping;

/// <summary>When a batch is cut (config section "Batching"): at <see cref="MaxEvents"/>, <see cref="MaxBytes"/> or <see cref="MaxDelay"/>, whichever comes first.</summary>
internal sealed class BatcherOptions
{
    public const string Section = "Batching";

    [Range(1, 100_000)]
    public int MaxEvents { get; set; } = 2000;

    /// <summary>Serialized size of a batch's events; a single larger event still goes out, alone.</summary>
    [Range(1024, 64 * 1024 * 1024)]
    public int MaxBytes { get; set; } = 1024 * 1024;

    /// <summary>Longest time an event waits in an open batch.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:10:00")]
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromSeconds(1);
}

/// <summary>Attribute-based checks of <see cref="BatcherOptions"/>, generated at compile time.</summary>
[OptionsValidator]
internal sealed partial class BatcherOptionsValidator : IValidateOptions<BatcherOptions>
{
    /// <summary>Throws <see cref="OptionsValidationException"/> listing every failure.</summary>
    public static void ThrowIfInvalid(BatcherOptions options) => Sluice.Agent.Spool.OptionsValidation.ThrowIfInvalid(new BatcherOptionsValidator(), options, BatcherOptions.Section);
}

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
