using Microsoft.Extensions.Hosting;
using Quartz;
using Sluice.Agent.Configuration;
using Sluice.Agent.Draining;
using Sluice.Agent.Monitoring;

namespace Sluice.Agent.Hosting;

/// <summary>Schedules the drain, loss monitor, watchdog and (with the Collector sink) heartbeat with the configured intervals once the scheduler runs.</summary>
internal sealed class JobScheduler(ISchedulerFactory factory, AgentOptions options, Shipping.HeartbeatSender? heartbeats = null) : IHostedService
{
    public static readonly TimeSpan WatchdogInterval = TimeSpan.FromSeconds(5);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var scheduler = await factory.GetScheduler(cancellationToken);
        await scheduler.ScheduleJob(DrainJob.CreateTrigger(options.Drain.IntervalMs), default, cancellationToken);
        await scheduler.ScheduleJob(Every(LossMonitorJob.Key, TimeSpan.FromMilliseconds(options.Monitor.IntervalMs)), default, cancellationToken);
        if (options.Monitor.Watchdog && options.Mode == AgentMode.Unicast)
        {
            await scheduler.ScheduleJob(Every(WatchdogJob.Key, WatchdogInterval), default, cancellationToken);
        }
        if (heartbeats is not null)
        {
            // The first heartbeat at once: the collector learns of the start (and the rules) without waiting an interval.
            await scheduler.ScheduleJob(Every(HeartbeatJob.Key, TimeSpan.FromMilliseconds(options.Monitor.HeartbeatIntervalMs), TimeSpan.Zero), default, cancellationToken);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static ITrigger Every(JobKey job, TimeSpan interval, TimeSpan? first = null) => TriggerBuilder.Create()
        .ForJob(job)
        .WithIdentity(job.Name + "-trigger", job.Group)
        .StartAt(DateTimeOffset.UtcNow + (first ?? interval))
        .WithSimpleSchedule(s => s.WithInterval(interval).RepeatForever())
        .Build();
}
