using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using Sluice.Collector.Dashboard;
using Sluice.Collector.Ingest;

namespace Sluice.Collector.Metrics;

/// <summary>
/// <c>GET /metrics</c>: the collector's meter as Prometheus text (docs/metrics.md), through
/// OpenTelemetry's ASP.NET Core Prometheus exporter, on the dashboard's port and under the
/// dashboard's access rules (<see cref="DashboardAccess"/>): with <c>--dashboard-token-file</c>, a
/// scrape sends <c>Authorization: Bearer TOKEN</c> (Prometheus's <c>authorization.credentials_file</c>);
/// without one, only local clients addressed as localhost or a loopback address are answered.
/// <c>--no-dashboard</c> turns it off with the dashboard.
/// </summary>
/// <remarks>
/// Why the dashboard's rules, not a token of its own: the figures are the fleet's ingest and loss,
/// read by the same operators, and one token file is one less secret to provision and rotate. The
/// dashboard is also what makes a cleartext port answer HTTP/1.1, which Prometheus speaks.
/// </remarks>
internal static class MetricsEndpoint
{
    public const string Path = "/metrics";

    /// <summary>Registers the meter provider that exports <paramref name="meterName"/>'s instruments when scraped.</summary>
    public static void AddCollectorMetrics(this IServiceCollection services, string meterName)
    {
        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(meterName)
            .AddPrometheusExporter(o =>
            {
                // Prometheus's job and instance labels name the collector; OpenTelemetry's scope
                // labels and target_info would only repeat the meter's and the service's names.
                o.ScopeInfoEnabled = false;
                o.TargetInfoEnabled = false;
            }));
    }

    /// <summary>Creates the collector's instruments over its counters and maps <see cref="Path"/> behind <paramref name="access"/>.</summary>
    public static void MapCollectorMetrics(this WebApplication app, DashboardAccess access, string meterName)
    {
        var meter = app.Services.GetRequiredService<IMeterFactory>().Create(meterName);
        CollectorInstruments.Create(meter, app.Services.GetRequiredService<IngestCounters>());
        CollectorInstruments.CreatePacing(meter, app.Services.GetRequiredService<Hosting.IngestPacer>());
        if (app.Services.GetService<Streaming.StreamCounters>() is { } stream)
        {
            CollectorInstruments.CreateStream(meter, stream);
        }
        app.MapPrometheusScrapingEndpoint(Path, meterProvider: null, configureBranchedPipeline: branch => branch.Use(async (context, next) =>
        {
            if (access.Check(context) is IResult refused)
            {
                await refused.ExecuteAsync(context);
                return;
            }
            await next(context);
        }), optionsName: null);
    }
}
