using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Sluice.Agent.Configuration;
using Sluice.Agent.Draining;
using Sluice.Agent.Filtering;
using Sluice.Agent.Hosting;
using Sluice.Agent.Monitoring;
using Sluice.Agent.Pipeline;
using Sluice.Agent.Shipping;
using Sluice.Agent.Sinks;
using Sluice.Agent.Spool;
using Sluice.Audit.Netlink;
using Sluice.Audit.Records;
using Sluice.Audit.Tables;
using Sluice.Protocol.V1;

namespace Sluice.Benchmarks.Stages;

/// <summary>
/// The agent's own classes up to one stage, fed kernel records: each level does everything the
/// one before it does, and one stage more, so a stage's cost is the difference between its level
/// and the one before. From <c>interpret</c> on, records go through the agent's
/// <see cref="EventPipeline"/>; from <c>spool</c> on, the pipeline, batcher, spool and shipper are
/// the ones the agent's own host composes (<see cref="AgentHost.Build"/>) from an agent.json, so
/// a change to the agent's composition or defaults shows here without a change to this code.
/// </summary>
public abstract class StageLevel : IAuditRecordSink, IDisposable
{
    /// <summary>The levels in the order they build on each other.</summary>
    public static readonly IReadOnlyList<string> Names = ["reassemble", "filter", "interpret", "serialize", "spool", "send", "compress"];

    /// <summary>Events completed so far (where the level can tell; -1 otherwise).</summary>
    public virtual long Events => -1;

    /// <summary>Events that reached the end of the level: handed to the sink, spooled and read back, or acknowledged by the collector.</summary>
    public abstract long Delivered { get; }

    public abstract void OnRecord(AuditMessageType type, ReadOnlySpan<byte> text);

    /// <summary>What the agent does after every drain.</summary>
    public abstract void Tick();

    /// <summary>Completes every event and hands everything on, to the end of the level: returns once the last event has gone as far as the level goes.</summary>
    public abstract void Finish();

    public abstract void Dispose();

    /// <param name="configFile">The agent.json the agent would run with (its Collector sink pointing at a collector).</param>
    /// <param name="directory">An empty directory of the level's own (spool, state).</param>
    public static StageLevel Create(string name, string configFile, string directory)
    {
        var configuration = AgentConfiguration.Build(configFile);
        var options = AgentConfiguration.Load(configFile);
        return name switch
        {
            "reassemble" => new Reassemble(options, filter: false),
            "filter" => new Reassemble(options, filter: true),
            "interpret" => new PipelineLevel(options, new DiscardSink(), null),
            "serialize" => Serialize(options, configuration, directory),
            "spool" => new Hosted(configuration, ship: false),
            "send" => new Hosted(WithCompression(configuration, ShippingCompression.None), ship: true),
            // Always gzip, so its cost is measured whether or not the agent is configured to pay it.
            "compress" => new Hosted(WithCompression(configuration, ShippingCompression.Gzip), ship: true),
            _ => throw new ArgumentException($"no stage level '{name}' (known: {string.Join(", ", Names)})", nameof(name)),
        };
    }

    /// <summary>The compression the agent is configured with (the <c>compress</c> level's; <c>send</c> runs without).</summary>
    public static string ConfiguredCompression(string configFile) => AgentConfiguration.Load(configFile).Shipping.Compression.ToString();

    /// <summary>The form of the events the agent configured by <paramref name="configFile"/> hands its sink: "raw" (the collector interprets) or "interpreted".</summary>
    public static string ConfiguredForm(string configFile) => EventPipeline.ShipsRawForm(AgentConfiguration.Load(configFile)) ? "raw" : "interpreted";

    private static IConfiguration WithCompression(IConfiguration configuration, ShippingCompression compression) =>
        new ConfigurationBuilder().AddConfiguration(configuration)
            .AddInMemoryCollection([new KeyValuePair<string, string?>("Shipping:Compression", compression.ToString())]).Build();

    private static PipelineLevel Serialize(AgentOptions options, IConfiguration configuration, string directory)
    {
        // The agent's batcher with its configured limits, handing cut batches to no one. The
        // spool is there only because the collector sink reports its counters; nothing is appended.
        var batching = configuration.GetSection(BatcherOptions.Section).Get<BatcherOptions>() ?? new BatcherOptions();
        var batcher = new Batcher(batching, AgentIdentity.ForThisHost(options.AgentId), static _ => { });
        var spool = DiskSpool.Open(new SpoolOptions { Directory = Path.Combine(directory, "unused-spool") });
        var metrics = new AgentMetrics();
        return new PipelineLevel(options, new CollectorSink(batcher, spool, metrics), batcher.Flush, [batcher, spool], metrics);
    }

    /// <summary>Reassembly alone, or with the agent's filters.</summary>
    private sealed class Reassemble : StageLevel
    {
        private readonly AuditReassembler _reassembler;
        private readonly EventFilter? _filter;
        private long _events;

        public Reassemble(AgentOptions options, bool filter)
        {
            _filter = filter ? new EventFilter(options.Filters, TimeProvider.System) : null;
            _reassembler = new AuditReassembler(OnEvent, TimeProvider.System, options.Reassembly.ToReassemblerOptions());
        }

        public override long Events => _events;

        public override long Delivered => _events;

        private void OnEvent(AuditEvent ev)
        {
            using (ev)
            {
                _events++;
                _filter?.Keep(ev);
            }
        }

        public override void OnRecord(AuditMessageType type, ReadOnlySpan<byte> text) => _reassembler.Add(type, text);

        public override void Tick() => _reassembler.CompleteExpired();

        public override void Finish() => _reassembler.Flush();

        public override void Dispose()
        {
        }
    }

    /// <summary>The agent's <see cref="EventPipeline"/> with a sink of the level's choosing.</summary>
    private sealed class PipelineLevel : StageLevel
    {
        private readonly EventPipeline _pipeline;
        private readonly Action? _finish;
        private readonly IReadOnlyList<IDisposable> _owned;
        private readonly AgentMetrics _metrics;

        public PipelineLevel(AgentOptions options, IEventSink sink, Action? finish, IReadOnlyList<IDisposable>? owned = null, AgentMetrics? metrics = null)
        {
            _metrics = metrics ?? new AgentMetrics();
            // The form the agent itself would write (raw to a collector that interprets, unless configured otherwise).
            _pipeline = new EventPipeline(options, sink, _metrics, TimeProvider.System, NullLogger<EventPipeline>.Instance,
                rawForm: EventPipeline.ShipsRawForm(options));
            _finish = finish;
            _owned = owned ?? [];
        }

        public override long Delivered => _metrics.Written;

        public override void OnRecord(AuditMessageType type, ReadOnlySpan<byte> text) => _pipeline.OnRecord(type, text);

        public override void Tick() => _pipeline.Tick();

        public override void Finish()
        {
            _pipeline.Flush();
            _finish?.Invoke();
        }

        public override void Dispose()
        {
            _pipeline.Dispose();
            foreach (var d in _owned)
            {
                d.Dispose();
            }
            _metrics.Dispose();
        }
    }

    /// <summary>Drops events: the end of the <c>interpret</c> level.</summary>
    private sealed class DiscardSink : IEventSink
    {
        public void Write(Event e)
        {
        }

        public void Flush()
        {
        }

        public void Dispose()
        {
        }
    }

    /// <summary>
    /// The agent's host, built and not started: its pipeline (collector sink, batcher, spool) and,
    /// when shipping, its shipper running to the collector. Without shipping the level reads the
    /// spool back and acknowledges it itself, as the shipper would.
    /// </summary>
    private sealed class Hosted : StageLevel
    {
        private readonly IHost _host;
        private readonly IRecordPipeline _pipeline;
        private readonly Batcher _batcher;
        private readonly DiskSpool _spool;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task? _shipping;
        private readonly Shipper _shipper;
        private long _readBack;

        public Hosted(IConfiguration configuration, bool ship)
        {
            _host = AgentHost.Build(configuration, services =>
                services.Configure<LoggerFilterOptions>(o => o.MinLevel = LogLevel.Warning));
            var sp = _host.Services;
            _pipeline = sp.GetRequiredService<Func<IRecordPipeline>>()();
            _batcher = sp.GetRequiredService<Batcher>();
            _spool = sp.GetRequiredService<DiskSpool>();
            _shipper = sp.GetRequiredService<Shipper>();
            if (ship)
            {
                _shipping = Task.Run(() => _shipper.RunAsync(_stop.Token));
            }
            _ = sp.GetRequiredService<IOptions<AgentOptions>>().Value;
        }

        public override long Delivered => _shipping is null ? _readBack : _shipper.Status.AckedEvents;

        public override void OnRecord(AuditMessageType type, ReadOnlySpan<byte> text) => _pipeline.OnRecord(type, text);

        public override void Tick() => _pipeline.Tick();

        public override void Finish()
        {
            _pipeline.Flush();
            _batcher.Flush();
            if (_shipping is null)
            {
                ulong last = 0;
                while (_spool.TryRead() is { } entry)
                {
                    last = entry.Sequence;
                    _readBack += entry.EventCount;
                    entry.Dispose();
                }
                if (last > 0)
                {
                    _spool.Acknowledge(last);
                }
                return;
            }
            var waited = System.Diagnostics.Stopwatch.StartNew();
            while (_spool.Counters.DepthBatches > 0)
            {
                if (_shipping.IsCompleted)
                {
                    _shipping.GetAwaiter().GetResult();
                    throw new InvalidOperationException("the shipper stopped with batches left in the spool");
                }
                if (waited.Elapsed > TimeSpan.FromMinutes(2))
                {
                    throw new TimeoutException($"the collector did not acknowledge every batch within 2 min ({_spool.Counters.DepthBatches} left)");
                }
                Thread.Sleep(1);
            }
        }

        public override void Dispose()
        {
            _stop.Cancel();
            try
            {
                _shipping?.GetAwaiter().GetResult();
            }
            catch (OperationCanceledException)
            {
            }
            _pipeline.Dispose();
            _host.Dispose();
            _stop.Dispose();
        }
    }
}
