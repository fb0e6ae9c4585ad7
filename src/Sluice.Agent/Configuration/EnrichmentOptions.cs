using System.ComponentModel.DataAnnotations;

namespace Sluice.Agent.Configuration;

/// <summary>
/// The process table that gives every event its process context: parent, ancestry, container and
/// systemd unit (docs/process-context.md).
/// </summary>
internal sealed class EnrichmentOptions
{
    /// <summary>Keep the table and set <c>Event.context</c> on every event that names a process.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Ancestry levels given per event, parent first.</summary>
    [Range(0, 64)]
    public int AncestryDepth { get; set; } = 8;

    /// <summary>Processes the table holds, live and exited; beyond it the oldest exited, else least recently used, are evicted (counted).</summary>
    [Range(64, 4_194_304)]
    public int MaxProcesses { get; set; } = 32_768;

    /// <summary>Seconds an exited process is kept, for its children's events.</summary>
    [Range(0, 86_400)]
    public int KeepExitedSeconds { get; set; } = 60;

    /// <summary>Arguments kept per process.</summary>
    [Range(0, 4096)]
    public int MaxArgs { get; set; } = 32;

    /// <summary>Bytes of arguments kept per process, all arguments together.</summary>
    [Range(0, 1_048_576)]
    public int MaxArgBytes { get; set; } = 1024;

    /// <summary>Read every process in /proc at start, so that processes started before the agent are known.</summary>
    public bool ScanProcAtStart { get; set; } = true;
}
