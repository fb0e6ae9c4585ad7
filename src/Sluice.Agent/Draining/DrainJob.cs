using Microsoft.Extensions.Hosting;
using Quartz;
using Sluice.Agent.Configuration;

namespace Sluice.Agent.Draining;

/// <summary>
/// The scheduled drain: reads the event socket until empty or the batch cap. A drain stopped
/// by the cap runs again at once; at the interval floor it reads continuously. Keeps its own
/// trigger's interval in step with the controller's.
/// </summary>
[DisallowConcurrentExecution]
internal sealed class DrainJob(DrainController controller, AgentOptions options, IHostApplicationLifetime lifetime) : IJob
{
    public static readonly JobKey Key = new("drain", "sluice");
    public static readonly TriggerKey TriggerKey = new("drain-trigger", "sluice");

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        if (!controller.IsRunning)
        {
            return;
        }
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lifetime.ApplicationStopping);
        if (controller.Continuous)
        {
            controller.DrainContinuously(stop.Token);
        }
        else
        {
            var result = controller.DrainOnce(options.Drain.BatchCap);
            if (!result.Empty && !stop.IsCancellationRequested)
            {
                await context.Scheduler.TriggerJob(Key, null!, stop.Token);
            }
        }
        await Reschedule(context, stop.Token);
    }

    private async Task Reschedule(IJobExecutionContext context, CancellationToken token)
    {
        if (token.IsCancellationRequested || context.Trigger is not ISimpleTrigger current
            || (int)current.RepeatInterval.TotalMilliseconds == controller.IntervalMs)
        {
            return;
        }
        await context.Scheduler.RescheduleJob(TriggerKey, CreateTrigger(controller.IntervalMs), token);
    }

    public static ITrigger CreateTrigger(int intervalMs) => TriggerBuilder.Create()
        .WithIdentity(TriggerKey)
        .ForJob(Key)
        .StartNow()
        // The smart misfire policy of a repeat-forever trigger skips missed slots: a drain
        // that overran needs no catching up, the next one reads everything.
        .WithSimpleSchedule(s => s.WithInterval(TimeSpan.FromMilliseconds(intervalMs)).RepeatForever())
        .Build();
}
