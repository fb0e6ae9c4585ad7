using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sluice.Agent.Spool;

namespace Sluice.Agent.Shipping;

/// <summary>Registers the delivery path: batcher → spool → shipper, bound to the "Batching", "Spool" and "Shipping" sections and validated at start.</summary>
internal static class DeliveryServiceCollectionExtensions
{
    /// <summary>
    /// Adds <see cref="Batcher"/> (the pipeline's sink: call <see cref="Batcher.Add"/>), <see cref="DiskSpool"/>,
    /// <see cref="Shipper"/>, <see cref="HeartbeatSender"/> and the hosted <see cref="ShipperService"/>.
    /// An <see cref="AgentIdentity"/> registered before wins; otherwise this host's is used. So does an
    /// <see cref="IIngestClient"/> (for configurations of one collector URL); otherwise the shipper and the heartbeats reach the
    /// collectors over gRPC, each heartbeat to a collector that is up.
    /// </summary>
    public static IServiceCollection AddSluiceDelivery(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<SpoolOptions>().Bind(configuration.GetSection(SpoolOptions.Section)).ValidateOnStart();
        services.AddOptions<ShipperOptions>().Bind(configuration.GetSection(ShipperOptions.Section)).ValidateOnStart();
        services.AddOptions<BatcherOptions>().Bind(configuration.GetSection(BatcherOptions.Section)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SpoolOptions>, SpoolOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ShipperOptions>, ShipperOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<BatcherOptions>, BatcherOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(_ => AgentIdentity.ForThisHost());

        services.AddSingleton(sp =>
        {
            // Every delivery option is checked before the spool touches the disk: reading .Value
            // runs the validators, whoever resolves first (a hosted service's constructor runs
            // before the host's own start-up validation).
            _ = sp.GetRequiredService<IOptions<ShipperOptions>>().Value;
            _ = sp.GetRequiredService<IOptions<BatcherOptions>>().Value;
            return DiskSpool.Open(
                sp.GetRequiredService<IOptions<SpoolOptions>>().Value,
                sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<ILogger<DiskSpool>>());
        });
        // The shipper makes a gRPC client per collector URL; an IIngestClient registered before
        // (a test's, to inject faults) takes the place of the one collector's.
        services.AddSingleton(sp => new Shipper(
            sp.GetRequiredService<DiskSpool>(),
            sp.GetRequiredService<IOptions<ShipperOptions>>().Value,
            sp.GetService<IIngestClient>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<Shipper>>()));
        services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<BatcherOptions>>().Value;
            var spool = sp.GetRequiredService<DiskSpool>();
            CheckFitsSpool(options, spool);
            var watermark = sp.GetService<Pipeline.SerialWatermark>();
            var batcher = new Batcher(options, sp.GetRequiredService<AgentIdentity>(), batch =>
            {
                spool.Append(batch);
                watermark?.Record(batch.HighestSerial);
            }, sp.GetRequiredService<TimeProvider>(), sp.GetService<Monitoring.AgentMetrics>() is { } metrics ? () => metrics.RulesHash : null);
            // Delivery loss the spool records (quarantined batches, corruption, also what recovery
            // found at open) goes out in a batch of its own when no events come to carry it.
            spool.LossRecorded += batcher.RequestCut;
            if (!spool.Counters.UnreportedLoss.IsNone)
            {
                batcher.RequestCut();
            }
            return batcher;
        });
        services.AddSingleton(sp => new HeartbeatSender(
            sp.GetRequiredService<AgentIdentity>(),
            sp.GetRequiredService<DiskSpool>(),
            sp.GetRequiredService<Shipper>(),
            TimeSpan.FromSeconds(10),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<HeartbeatSender>>()));
        services.AddHostedService<ShipperService>();
        return services;
    }

    /// <summary>A full batch plus one more event must fit a spool segment: <c>Batching:MaxBytes</c> at most half of what a segment takes.</summary>
    public static void CheckFitsSpool(BatcherOptions options, DiskSpool spool)
    {
        if (options.MaxBytes > spool.MaxBatchBytes / 2)
        {
            throw new OptionsValidationException(BatcherOptions.Section, typeof(BatcherOptions),
                [$"{BatcherOptions.Section}:MaxBytes: {options.MaxBytes} is more than half of what a spool segment holds ({spool.MaxBatchBytes} bytes); lower it or raise {SpoolOptions.Section}:SegmentBytes."]);
        }
    }
}
