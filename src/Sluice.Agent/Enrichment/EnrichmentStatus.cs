using Sluice.Agent.Configuration;

namespace Sluice.Agent.Enrichment;

/// <summary>The process table's figures, for status (<c>enrichment</c>), heartbeats and metrics.</summary>
internal sealed record EnrichmentStatus
{
    public bool Enabled { get; init; }
    /// <summary>Entries in the table, live and exited.</summary>
    public long Processes { get; init; }
    public long MaxProcesses { get; init; }
    /// <summary>Exited processes kept for their children's events.</summary>
    public long ExitedKept { get; init; }
    /// <summary>Entries pushed out by MaxProcesses since start.</summary>
    public long Evicted { get; init; }
    /// <summary>Approximate bytes the entries hold.</summary>
    public long TableBytes { get; init; }
    /// <summary>Events whose parent was UNKNOWN.</summary>
    public long ParentUnknown { get; init; }
    /// <summary>Events whose container was UNKNOWN (and so their unit).</summary>
    public long ContainerUnknown { get; init; }
    public long UnitUnknown { get; init; }
    /// <summary>Processes read from /proc (start scan and first sights).</summary>
    public long ProcScanned { get; init; }

    public static EnrichmentStatus From(EnrichmentOptions options, Enricher? enricher) => enricher is null
        ? new EnrichmentStatus { Enabled = false, MaxProcesses = options.MaxProcesses }
        : new EnrichmentStatus
        {
            Enabled = true,
            Processes = enricher.Table.Count,
            MaxProcesses = enricher.Table.MaxProcesses,
            ExitedKept = enricher.Table.ExitedKept,
            Evicted = enricher.Table.Evicted,
            TableBytes = enricher.Table.Bytes,
            ParentUnknown = enricher.ParentUnknown,
            ContainerUnknown = enricher.ContainerUnknown,
            UnitUnknown = enricher.UnitUnknown,
            ProcScanned = enricher.ProcScanned,
        };
}
