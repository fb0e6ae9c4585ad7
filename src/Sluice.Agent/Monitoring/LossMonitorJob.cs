using Quartz;
using Sluice.Agent.Draining;
using Sluice.Agent.Kernel;

namespace Sluice.Agent.Monitoring;

/// <summary>Runs the <see cref="LossMonitor"/> every Monitor:IntervalMs, on its own control socket.</summary>
[DisallowConcurrentExecution]
internal sealed class LossMonitorJob(LossMonitor monitor, DrainController controller, KernelSession session) : IJob
{
    public static readonly JobKey Key = new("loss-monitor", "sluice");

    public const string SerialProbe = LossMonitor.SerialProbe;

    public ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        if (controller.IsRunning)
        {
            monitor.Tick(session.MonitorControl, session);
        }
        return ValueTask.CompletedTask;
    }
}
