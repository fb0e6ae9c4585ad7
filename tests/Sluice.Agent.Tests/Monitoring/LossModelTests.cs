using Sluice.Agent.Draining;
using Sluice.Agent.Monitoring;
using Sluice.Agent.Spool;
using Sluice.Audit.Netlink;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Tests.Monitoring;

/// <summary>docs/loss-model.md: each source's counter becomes one loss kind, in one place, and reaches LossCounters, status and heartbeats under one name.</summary>
public sealed class LossModelTests
{
    private static LossMonitor.Sources Read(uint lost = 0, uint wait = 0, uint drops = 0, AuditReceiveCounters socket = default, PipelineLoss pipeline = default) =>
        new(lost, wait, drops, socket, pipeline);

    [Fact]
    public void Between_EachSourceCounterToItsKind()
    {
        var before = Read(lost: 10, wait: 100, drops: 5, socket: new() { Enobufs = 1, Truncated = 2 }, pipeline: new(SerialGaps: 3, Evicted: 4, ParseErrors: 5));
        var now = Read(lost: 11, wait: 103, drops: 9, socket: new() { Enobufs = 2, Truncated = 7 }, pipeline: new(SerialGaps: 9, Evicted: 4, ParseErrors: 6));

        var loss = LossMonitor.Between(before, now);

        Assert.Equal(new CaptureLoss
        {
            KernelLost = 1,
            BacklogWaitTimeActual = 3,
            SocketOverruns = 4,     // SO_MEMINFO drops: records
            Enobufs = 1,            // ENOBUFS: one per overrun
            Truncated = 5,          // MSG_TRUNC on receive
            SerialGaps = 6,
            ReassemblyEvicted = 0,
            ParseErrors = 1,
        }, loss);
    }

    [Fact]
    public void Between_KernelCounterReset_CountsFromZero()
    {
        Assert.Equal(3, LossMonitor.Between(Read(lost: 50, drops: 40), Read(lost: 3, drops: 41)).KernelLost);
    }

    [Fact]
    public void Truncated_ReachesTheBatchLossCounters()
    {
        // Before: the monitor added truncated records to status but never to LossCounters.
        var loss = LossMonitor.Between(Read(), Read(socket: new() { Truncated = 2 }));
        Assert.True(loss.Any);

        var counters = new LossCounters();
        loss.AddTo(counters);

        Assert.Equal(2ul, counters.Truncated);
        Assert.Equal(new LossCounters { Truncated = 2 }, counters);
    }

    [Fact]
    public void AddTo_SocketOverrunsAreTheDropsNotTheEnobufs()
    {
        var counters = new LossCounters();
        new CaptureLoss { SocketOverruns = 40, Enobufs = 1 }.AddTo(counters);

        Assert.Equal(new LossCounters { SocketOverruns = 40 }, counters);
    }

    [Fact]
    public void Metrics_ReadingsAddUpInStatusAndHeartbeat()
    {
        var metrics = new AgentMetrics();
        metrics.AddLoss(new CaptureLoss { KernelLost = 1, SocketOverruns = 2, Enobufs = 1, SerialGaps = 3, ReassemblyEvicted = 4, Truncated = 5, ParseErrors = 6, BacklogWaitTimeActual = 7 });
        metrics.AddLoss(new CaptureLoss { SocketOverruns = 10, Enobufs = 1, Truncated = 1 });

        var status = metrics.Snapshot();
        var heartbeat = HeartbeatJob.LossTotals(status);

        Assert.Equal((1L, 12L, 2L, 3L, 4L, 6L, 6L, 7L), (status.KernelLost, status.SocketOverruns, status.Enobufs, status.SerialGaps, status.ReassemblyEvicted,
            status.Truncated, status.ParseErrors, status.BacklogWaitTimeActual));
        Assert.Equal(1 + 12 + 3 + 4, status.TotalLoss);
        Assert.Equal(new LossCounters { KernelLost = 1, SocketOverruns = 12, SerialGaps = 3, ReassemblyEvicted = 4, Truncated = 6, ParseErrors = 6, BacklogWaitTimeActual = 7 },
            heartbeat);
    }

    [Fact]
    public void SpoolAppendFailures_AreSpoolDropsInStatusAndHeartbeat()
    {
        // A batch the spool could not write goes to the collector as spool_dropped_* in the next
        // batch (the batcher's doing); status and the heartbeat count it with the cap's drops.
        var metrics = new AgentMetrics
        {
            SpoolCounters = () => new SpoolCounters { DroppedBatches = 1, DroppedEvents = 10 },
            SpoolAppendFailures = () => (2, 7),
        };

        var status = metrics.Snapshot();
        var heartbeat = HeartbeatJob.LossTotals(status);

        Assert.Equal((3L, 17L, 17L), (status.SpoolDroppedBatches, status.SpoolDroppedEvents, status.TotalLoss));
        Assert.Equal((3ul, 17ul), (heartbeat.SpoolDroppedBatches, heartbeat.SpoolDroppedEvents));
    }
}
