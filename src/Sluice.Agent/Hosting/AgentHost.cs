using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Quartz;
using Sluice.Agent.Configuration;
using Sluice.Agent.Draining;
using Sluice.Agent.Filtering;
using Sluice.Agent.Kernel;
using Sluice.Agent.Monitoring;
using Sluice.Agent.Policy;
using Sluice.Agent.Shipping;
using Sluice.Agent.Status;

namespace Sluice.Agent.Hosting;

/// <summary>Builds the generic host that runs the agent.</summary>
internal static class AgentHost
{
    /// <param name="configuration">From <see cref="AgentConfiguration.Build"/>.</param>
    /// <param name="configure">Lets tests replace services we own (pipeline factory, command runner).</param>
    public static IHost Build(IConfiguration configuration, Action<IServiceCollection>? configure = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddAgentOptions(configuration);
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
        });
        // Quartz narrates its own start and stop at Information; the agent's own log says what matters.
        builder.Logging.AddFilter("Quartz", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        builder.Services.AddSystemd();
        // Stopping may restart auditd and wait for it to register.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(90));

        var services = builder.Services;
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<AgentOptions>>().Value);
        services.AddSingleton<AgentMetrics>();
        services.AddSingleton<KernelSession>();
        services.AddSingleton<ICommandRunner, ProcessCommandRunner>();
        services.AddSingleton<AuditdService>();
        services.AddSingleton<KernelOwnership>();
        services.AddSingleton<DrainController>();
        services.AddSingleton<LossMonitor>();
        services.AddSingleton<PolicyState>();
        services.AddSingleton<IRulesLoader, AgentRulesLoader>();
        services.AddSingleton<PolicyApplier>();
        // The filters in force: the last good central policy's when there is one, else agent.json's Filters.
        services.AddSingleton(sp => new ActiveFilter(
            sp.GetRequiredService<PolicyState>().Startup?.Filters ?? sp.GetRequiredService<AgentOptions>().Filters,
            sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<Func<IRecordPipeline>>(sp => () => Pipeline.EventPipeline.Create(sp));

        // Order matters: AgentService starts before Quartz and stops after it.
        services.AddHostedService<AgentService>();
        services.AddQuartz(q =>
        {
            q.AddJob<DrainJob>(j => j.WithIdentity(DrainJob.Key).StoreDurably());
            q.AddJob<LossMonitorJob>(j => j.WithIdentity(LossMonitorJob.Key).StoreDurably());
            q.AddJob<WatchdogJob>(j => j.WithIdentity(WatchdogJob.Key).StoreDurably());
            q.AddJob<HeartbeatJob>(j => j.WithIdentity(HeartbeatJob.Key).StoreDurably());
        });
        services.AddQuartzHostedService(o =>
        {
            // Let a running drain finish before the final drain and restore.
            o.WaitForJobsToComplete = true;
        });
        services.AddHostedService<JobScheduler>();
        if (SinkOptions.TypeFrom(configuration) == SinkType.Collector)
        {
            // Spool and shipper start after the agent service and stop before it, so the final
            // drain's events are spooled even if the collector cannot take them now.
            services.AddSingleton(sp => AgentIdentity.ForThisHost(sp.GetRequiredService<AgentOptions>().AgentId));
            services.AddSingleton(sp => new Pipeline.SerialWatermark(sp.GetRequiredService<AgentOptions>().StateDirectory, sp.GetRequiredService<AgentIdentity>().BootId,
                sp.GetRequiredService<ILogger<Pipeline.SerialWatermark>>()));
            services.AddSluiceDelivery(configuration);
        }
        services.AddHostedService<StatusServer>();
        services.AddHostedService<Metrics.PrometheusListener>();
        configure?.Invoke(services);
        return builder.Build();
    }
}
