using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using Sluice.Agent.Configuration;
using Sluice.Agent.Monitoring;

namespace Sluice.Agent.Metrics;

/// <summary>
/// Serves the <see cref="AgentMetrics.MeterName"/> meter as Prometheus text at
/// <c>http://HOST:PORT/metrics</c> when <c>Status:MetricsListen</c> is set, through OpenTelemetry's
/// Prometheus exporter on <see cref="System.Net.HttpListener"/> (docs/metrics.md). Nothing is
/// created or bound when the key is empty, the default.
/// </summary>
/// <remarks>
/// The instruments are observable (<see cref="AgentInstruments"/>): a scrape calls their callbacks,
/// so the agent records nothing per event for it. Only the agent's own meter is exported, with no
/// <c>otel_scope_*</c> labels and no <c>target_info</c>: Prometheus's <c>job</c> and
/// <c>instance</c> labels name the host. A listener that cannot bind (the port is taken) is logged
/// and the agent runs on: audit matters more than its figures.
/// </remarks>
internal sealed partial class PrometheusListener(AgentOptions options, ILogger<PrometheusListener> logger) : IHostedService, IDisposable
{
    /// <summary>Each metric stream holds at most this many label sets. The agent's have one to seven,
    /// and one per filter rule: the SDK's default, 2000, preallocates storage for each instrument.</summary>
    internal const int CardinalityLimit = 256;

    private MeterProvider? _provider;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var listen = MetricsListen.Parse(options.Status.MetricsListen);
        if (listen is null)
        {
            return Task.CompletedTask;
        }
        try
        {
            _provider = Create(listen);
        }
        catch (Exception e) when (e is System.Net.HttpListenerException or InvalidOperationException or System.Net.Sockets.SocketException)
        {
            // The exporter wraps the listener's own error ("Address already in use") in its own.
            Log.CannotListen(logger, MetricsListen.Key, listen.Url, e.InnerException is { } inner ? $"{e.Message} {inner.Message}" : e.Message);
            return Task.CompletedTask;
        }
        Log.Listening(logger, listen.Url);
        if (!listen.IsLoopback)
        {
            Log.NotLoopback(logger, MetricsListen.Key, listen.Host);
        }
        return Task.CompletedTask;
    }

    /// <summary>The meter provider exporting the agent's meter (<paramref name="meterName"/>) on <paramref name="listen"/>; it listens until disposed.</summary>
    internal static MeterProvider Create(MetricsListen listen, string meterName = AgentMetrics.MeterName)
    {
        var provider = Sdk.CreateMeterProviderBuilder()
            .AddMeter(meterName)
            .AddView(_ => new MetricStreamConfiguration { CardinalityLimit = CardinalityLimit })
            .AddPrometheusHttpListener(o =>
            {
                o.Host = listen.IsAny ? "localhost" : listen.Host;
                o.Port = listen.Port;
                if (listen.IsAny)
                {
                    // HttpListener matches a request's Host header against the prefix's host, so a
                    // prefix on 0.0.0.0 would bind and answer no request; "+" binds every address and
                    // answers any Host. The exporter makes its prefix with UriBuilder, which takes no
                    // "+": the prefix is replaced before the listener starts.
                    o.ConfigureHttpListener = (_, http) =>
                    {
                        http.Prefixes.Clear();
                        http.Prefixes.Add($"http://+:{listen.Port}/metrics/");
                    };
                }
                o.ScrapeEndpointPath = "/metrics";
                o.ScopeInfoEnabled = false;
                o.TargetInfoEnabled = false;
            })
            .Build();
        return provider;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        _provider?.Dispose();
        _provider = null;
    }

    private static partial class Log
    {
        [LoggerMessage(82, LogLevel.Information, "Metrics: Prometheus text at {Url}")]
        public static partial void Listening(ILogger logger, string url);

        [LoggerMessage(83, LogLevel.Warning, "{Key}: the metrics listener is on {Host}, not a loopback address: anyone who can reach it reads the agent's figures (counts, rates, loss, spool depth; no events, rules or secrets). Bind it to 127.0.0.1 unless a firewall limits who can connect")]
        public static partial void NotLoopback(ILogger logger, string key, string host);

        [LoggerMessage(84, LogLevel.Error, "{Key}: cannot serve metrics at {Url}: {Message}; the agent runs on without them")]
        public static partial void CannotListen(ILogger logger, string key, string url, string message);
    }
}
