using Sluice.Agent.Monitoring;
using Sluice.Agent.Shipping;
using Sluice.Agent.Spool;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Sinks;

/// <summary>
/// The default sink when a collector is configured: events go to the batcher, which cuts
/// batches into the disk spool; the shipper sends them on. The loss monitor's counts ride in
/// the batches (LossCounters), so the collector sees every loss with the interval it fell in.
/// </summary>
internal sealed class CollectorSink : IEventSink
{
    private readonly Batcher _batcher;

    /// <param name="shipper">Its state and each collector's go into status (<see cref="AgentMetrics.ShipperStatus"/>).</param>
    public CollectorSink(Batcher batcher, DiskSpool spool, AgentMetrics metrics, Shipper? shipper = null)
    {
        _batcher = batcher;
        metrics.LossReporter = batcher.AddLoss;
        metrics.SpoolCounters = () => spool.Counters;
        metrics.SpoolAppendFailures = () => (batcher.SinkFailures, batcher.SinkFailedEvents);
        if (shipper is not null)
        {
            metrics.ShipperStatus = () => shipper.Status;
        }
    }

    public void Write(Event e) => _batcher.Add(e);

    // The batcher cuts by size or time itself; flushing after every drain would make tiny batches.
    public void Flush()
    {
    }

    public void Dispose() => _batcher.Flush();
}
