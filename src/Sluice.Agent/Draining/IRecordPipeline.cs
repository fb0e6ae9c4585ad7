using Sluice.Audit.Netlink;

namespace Sluice.Agent.Draining;

/// <summary>Where drained records go: reassembly, filters, sink.</summary>
internal interface IRecordPipeline : IAuditRecordSink, IDisposable
{
    /// <summary>Completes events whose time is up and flushes the sink; called after every drain.</summary>
    void Tick();

    /// <summary>Completes every in-flight event and flushes: the last step before shutdown.</summary>
    void Flush();

    /// <summary>Loss the pipeline itself sees: serial gaps, evictions, unparsable records.</summary>
    PipelineLoss Loss { get; }
}

/// <summary>Cumulative loss counters of a pipeline.</summary>
internal readonly record struct PipelineLoss(long SerialGaps, long Evicted, long ParseErrors);
