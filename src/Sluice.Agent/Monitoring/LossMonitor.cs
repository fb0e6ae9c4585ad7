using Microsoft.Extensions.Logging;
using Sluice.Agent.Configuration;
using Sluice.Agent.Draining;
using Sluice.Agent.Kernel;
using Sluice.Audit.Netlink;

namespace Sluice.Agent.Monitoring;

/// <summary>
/// Every second, on a control socket of its own: reads every loss signal on the way in (kernel
/// lost, socket overruns and ENOBUFS, serial gaps, evictions, truncated and unparsable records,
/// stall time; docs/loss-model.md) and the levels (backlog, socket fill), adds the loss to the
/// totals and hands it to the collector sink, and pushes back through the <see cref="BackpressurePolicy"/>.
/// </summary>
/// <remarks>
/// A singleton: it keeps the previous readings to compute deltas. Quartz creates a new job
/// object for every run, so the job (<see cref="LossMonitorJob"/>) only calls into this.
/// </remarks>
internal sealed partial class LossMonitor(
    DrainController controller, AgentMetrics metrics, AgentOptions options, ILogger<LossMonitor> logger)
{

    private readonly BackpressurePolicy _policy = new(options.Monitor.FillThreshold, options.Monitor.CalmTicksToRelax);
    private bool _primed;
    private Sources _before;
    private long _replaces;
    private long _events;
    private long _eventsStamp;
    private long _recordsAtLastTick = -1;

    /// <summary>Text of the USER record the monitor asks the kernel to log; the pipeline drops it.</summary>
    public const string SerialProbe = "sluice-serial-probe";

    /// <summary>Every counter a loss kind is read from, as its source keeps it (docs/loss-model.md).</summary>
    internal readonly record struct Sources(uint Lost, uint WaitTimeActual, uint MeminfoDrops, AuditReceiveCounters Socket, PipelineLoss Pipeline);

    /// <summary>
    /// The one place each source's counter becomes a loss kind: what happened between two readings.
    /// The kernel's counters are u32 and can be reset by others (a smaller value means a reset); the
    /// socket's and the pipeline's are this run's own and only grow.
    /// </summary>
    internal static CaptureLoss Between(in Sources before, in Sources now) => new()
    {
        KernelLost = Delta(now.Lost, before.Lost),
        BacklogWaitTimeActual = Delta(now.WaitTimeActual, before.WaitTimeActual),
        SocketOverruns = Delta(now.MeminfoDrops, before.MeminfoDrops),
        Enobufs = now.Socket.Enobufs - before.Socket.Enobufs,
        Truncated = now.Socket.Truncated - before.Socket.Truncated,
        SerialGaps = now.Pipeline.SerialGaps - before.Pipeline.SerialGaps,
        ReassemblyEvicted = now.Pipeline.Evicted - before.Pipeline.Evicted,
        ParseErrors = now.Pipeline.ParseErrors - before.Pipeline.ParseErrors,
    };

    internal void Tick(AuditControlClient control, KernelSession session)
    {
        var status = control.GetStatus();
        var socket = controller.Socket;
        var memory = socket.GetMemoryInfo();
        var counters = socket.Counters;
        var now = new Sources(status.Lost, status.BacklogWaitTimeActual ?? 0, memory.Drops, counters, controller.PipelineLoss);
        if (!_primed)
        {
            // The kernel's counters are the host's since boot: loss before the agent started is
            // not the agent's to report, so they count from here. The socket and the pipeline are
            // this run's own and count from zero: what they saw before this first tick is this
            // run's loss, the serial gap of a restart after a crash included (the pipeline counts
            // it on the first record, which may come before this tick).
            _before = _before with { Lost = now.Lost, WaitTimeActual = now.WaitTimeActual };
            _primed = true;
        }
        var loss = Between(_before, now);
        var reading = new LossReading(loss, memory.Fill, status.Backlog, status.BacklogLimit);
        long replaces = counters.ReplaceRequests - _replaces;
        (_before, _replaces) = (now, counters.ReplaceRequests);

        metrics.AddLoss(loss);
        long events = metrics.Events;
        long stamp = System.Diagnostics.Stopwatch.GetTimestamp();
        if (_eventsStamp != 0)
        {
            double seconds = System.Diagnostics.Stopwatch.GetElapsedTime(_eventsStamp, stamp).TotalSeconds;
            metrics.EventsPerSecond = seconds > 0 ? (float)((events - _events) / seconds) : 0;
        }
        (_events, _eventsStamp) = (events, stamp);
        metrics.SampleResources();
        metrics.Backlog = (int)status.Backlog;
        metrics.BacklogLimit = (int)status.BacklogLimit;
        metrics.SocketFill = (float)memory.Fill;
        if (replaces > 0)
        {
            metrics.AddReplaceRequests(replaces);
            Log.ReplaceRequested(logger, replaces, counters.LastReplacePid, ProcessNames.Comm(counters.LastReplacePid) ?? "gone");
        }
        if (loss.Any && metrics.LossReporter is { } report)
        {
            var delta = new Sluice.Protocol.V1.LossCounters();
            loss.AddTo(delta);
            report(delta);
        }
        if (reading.AnyLoss)
        {
            Log.Loss(logger, loss.KernelLost, loss.SocketOverruns, loss.Enobufs, loss.SerialGaps, loss.ReassemblyEvicted);
        }

        var decision = _policy.Decide(reading);
        var interval = TimeSpan.FromMilliseconds(controller.IntervalMs);
        if (decision.SpeedUp && controller.SpeedUp(decision.Reason, decision.ToFloor))
        {
            metrics.AddAdjustment();
            interval = TimeSpan.FromMilliseconds(controller.IntervalMs);
        }
        // Size the reservoir for the recent peak at the interval now in force; under loss, at
        // least double it.
        int wanted = Draining.ReservoirSizer.Size(controller.PeakRecordsPerSecond, interval, (int)controller.TruesizeBytes,
            options.Reservoir.Headroom, options.Reservoir.InitialBufferBytes, options.Reservoir.MaxBufferBytes);
        if (decision.GrowBuffer)
        {
            // The kernel reports twice what was asked, so asking for the reported size doubles
            // the real buffer; under loss, quadruple it.
            long grown = (long)socket.ReceiveBufferSize * (reading.AnyLoss ? 2 : 1);
            wanted = (int)Math.Max(wanted, Math.Min(options.Reservoir.MaxBufferBytes, grown));
        }
        metrics.WantedBufferBytes = wanted;
        int before = socket.ReceiveBufferSize;
        if (controller.GrowBuffer(wanted, decision.GrowBuffer ? decision.Reason : "sizing for the measured rate") != before)
        {
            metrics.AddAdjustment();
        }
        if (decision.GrowBacklog && options.Mode == AgentMode.Unicast && !status.IsImmutable
            && status.BacklogLimit < options.Kernel.MaxBacklogLimit)
        {
            uint next = (uint)Math.Min(options.Kernel.MaxBacklogLimit, (long)status.BacklogLimit * 2);
            control.SetBacklogLimit(next);
            session.WantedBacklogLimit = next;
            metrics.BacklogLimit = (int)next;
            metrics.AddAdjustment();
            Log.BacklogRaised(logger, status.BacklogLimit, next, decision.Reason);
        }
        if (decision.Relax && controller.Relax())
        {
            metrics.AddAdjustment();
        }
        ProbeSerialIfIdle(control, counters.Records);
    }

    /// <summary>
    /// A serial gap shows only when a later serial arrives, so the tail of a burst the kernel
    /// dropped would stay unseen on a quiet host. When nothing arrived during a tick, ask the
    /// kernel to log one USER record: its fresh serial exposes any gap before it.
    /// </summary>
    private void ProbeSerialIfIdle(AuditControlClient control, long records)
    {
        bool idle = records == _recordsAtLastTick;
        _recordsAtLastTick = records;
        if (!idle || options.Mode != AgentMode.Unicast)
        {
            return;
        }
        try
        {
            control.SendUserMessage(SerialProbe);
        }
        catch (AuditException e)
        {
            Log.ProbeFailed(logger, e.Message);
        }
    }

    private static long Delta(uint now, uint before) => now >= before ? now - before : now;

    private static partial class Log
    {
        [LoggerMessage(40, LogLevel.Warning, "Loss: kernel lost {Lost}, socket dropped {Drops} ({Enobufs} ENOBUFS), {Gaps} serials missing, {Evicted} events evicted")]
        public static partial void Loss(ILogger logger, long lost, long drops, long enobufs, long gaps, long evicted);

        [LoggerMessage(41, LogLevel.Information, "backlog_limit {Old} -> {New} ({Reason})")]
        public static partial void BacklogRaised(ILogger logger, uint old, uint @new, string reason);

        [LoggerMessage(43, LogLevel.Debug, "Serial probe not sent: {Message}")]
        public static partial void ProbeFailed(ILogger logger, string message);

        [LoggerMessage(42, LogLevel.Warning, "{Count} attempt(s) to take the audit consumer PID; last by pid {Pid} ({Comm}); ignored")]
        public static partial void ReplaceRequested(ILogger logger, long count, uint pid, string comm);
    }
}
