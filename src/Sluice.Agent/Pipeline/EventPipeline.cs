using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Sluice.Agent.Configuration;
using Sluice.Agent.Draining;
using Sluice.Agent.Filtering;
using Sluice.Agent.Monitoring;
using Sluice.Agent.Sinks;
using Sluice.Audit.Accounts;
using Sluice.Audit.Records;
using Sluice.Audit.Tables;
using Sluice.Protocol.Mapping;

namespace Sluice.Agent.Pipeline;

/// <summary>
/// Drained records → reassembler → filters (on raw fields, before interpretation) →
/// interpretation → sink. Runs on the drain thread.
/// </summary>
internal sealed partial class EventPipeline : IRecordPipeline
{
    private readonly AuditReassembler _reassembler;
    private readonly ActiveFilter _filter;
    private readonly IEventSink _sink;
    private readonly AgentMetrics _metrics;
    private readonly ILogger _logger;
    private readonly AccountNameCache? _names;
    private readonly TimeProvider _time;

    /// <summary>Set when the collector interprets: events go to the sink in the raw form.</summary>
    private readonly RawEventMapper? _raw;

    /// <summary>The process table (Enrichment:Enabled): every event that names a process gets its context.</summary>
    private readonly Enrichment.Enricher? _enricher;

    public EventPipeline(AgentOptions options, IEventSink sink, AgentMetrics metrics, TimeProvider time, ILogger<EventPipeline> logger,
        SerialWatermark? watermark = null, bool rawForm = false, ActiveFilter? filter = null, Enrichment.IProcSource? procSource = null)
    {
        _raw = rawForm ? new RawEventMapper() : null;
        _sink = sink;
        _metrics = metrics;
        _logger = logger;
        // The filter may be replaced while the agent runs (a central policy): read per event.
        _filter = filter ?? new ActiveFilter(options.Filters, time);
        metrics.FilterCounts = () => _filter.Counts;
        if (options.Interpretation.ResolveNames)
        {
            _names = new AccountNameCache(options.Interpretation.AccountsRoot, time, OnAccountsLoaded);
        }
        if (options.Enrichment.Enabled)
        {
            _enricher = new Enrichment.Enricher(options.Enrichment, procSource ?? Enrichment.ProcReader.Host(options.Enrichment.MaxArgs, options.Enrichment.MaxArgBytes));
            if (options.Enrichment.ScanProcAtStart && procSource is null)
            {
                int scanned = _enricher.ScanProc(time.GetUtcNow().ToUnixTimeMilliseconds());
                Log.Scanned(logger, scanned);
            }
        }
        metrics.Enrichment = () => Enrichment.EnrichmentStatus.From(options.Enrichment, _enricher);
        _time = time;
        _reassembler = new AuditReassembler(OnEvent, time, options.Reassembly.ToReassemblerOptions());
        if (watermark?.ReadPrevious() is uint previous)
        {
            _reassembler.ResumeAfter(previous);
            Log.Resumed(logger, previous);
        }
    }

    /// <summary>Builds the pipeline with the sink the configuration names.</summary>
    public static EventPipeline Create(IServiceProvider services)
    {
        var options = services.GetRequiredService<AgentOptions>();
        IEventSink sink = services.GetService<IEventSink>() ?? options.Sink.Type switch
        {
            SinkType.Stdout => new JsonLinesSink(Console.OpenStandardOutput()),
            SinkType.JsonLines => JsonLinesSink.OpenFile(options.Sink.Path),
            SinkType.Collector => new CollectorSink(services.GetRequiredService<Shipping.Batcher>(),
                services.GetRequiredService<Spool.DiskSpool>(), services.GetRequiredService<AgentMetrics>(), services.GetService<Shipping.Shipper>()),
            _ => throw new ConfigurationException($"Sink:Type {options.Sink.Type} is not available in this build"),
        };
        return new EventPipeline(options, sink, services.GetRequiredService<AgentMetrics>(),
            services.GetRequiredService<TimeProvider>(), services.GetRequiredService<ILogger<EventPipeline>>(),
            options.Sink.Type == SinkType.Collector ? services.GetService<SerialWatermark>() : null,
            ShipsRawForm(options), services.GetService<ActiveFilter>());
    }

    /// <summary>
    /// The raw form goes to the collector unless the agent is asked to interpret, or resolves names
    /// (they are this host's): interpretation and its allocations were about a third of the agent's
    /// CPU per event (tests/Sluice.Benchmarks/README.md, "Agent footprint").
    /// </summary>
    public static bool ShipsRawForm(AgentOptions options) =>
        options.Sink.Type == SinkType.Collector
        && options.Interpretation.At == InterpretationSite.Collector
        && !options.Interpretation.ResolveNames;

    public void OnRecord(AuditMessageType type, ReadOnlySpan<byte> text) => _reassembler.Add(type, text);

    private void OnEvent(AuditEvent ev)
    {
        using (ev)
        {
            if (IsOwnProbe(ev))
            {
                return;
            }
            _metrics.AddEvent();
            var process = _enricher?.Learn(ev);
            if (!_filter.Current.Keep(ev))
            {
                _metrics.AddFiltered();
                return;
            }
            try
            {
                // The raw form wraps the event's buffers: the sink serializes it before the event is disposed
                // (and before the next event: the context is reused too).
                var context = process is null ? null : _enricher!.Context(process);
                var e = _raw is not null ? _raw.Map(ev) : AuditEventMapper.ToProto(ev, AuditEventInterpreter.Interpret(ev, _names));
                e.Context = context;
                _sink.Write(e);
                _metrics.AddWritten();
            }
            catch (IOException e)
            {
                // The event is counted as a write failure, never dropped silently.
                _metrics.AddWriteFailure();
                Log.WriteFailed(_logger, ev.Serial, e.Message);
            }
        }
    }

    private static readonly int s_pid = Environment.ProcessId;

    /// <summary>The loss monitor's serial probe: a USER record from this process with the probe text.</summary>
    private static bool IsOwnProbe(AuditEvent ev) =>
        ev.MainType == AuditMessageType.User
        && ev.TryGetField(AuditMessageType.User, "pid"u8, out var pid, out _) && AuditValues.TryParseUInt32(pid, out uint p) && p == s_pid
        && ev[ev.IndexOf(AuditMessageType.User)].Text.IndexOf(s_probe) >= 0;

    private static readonly byte[] s_probe = System.Text.Encoding.ASCII.GetBytes($"msg='{Monitoring.LossMonitorJob.SerialProbe}");

    private void OnAccountsLoaded(AccountFileStatus status)
    {
        if (status.Healthy)
        {
            Log.AccountsLoaded(_logger, status.Describe());
        }
        else
        {
            Log.AccountsProblem(_logger, status.Describe());
        }
    }

    public void Tick()
    {
        _reassembler.CompleteExpired();
        _enricher?.Expire(_time.GetUtcNow().ToUnixTimeMilliseconds());
        _sink.Flush();
    }

    public void Flush()
    {
        _reassembler.Flush();
        _sink.Flush();
    }

    public PipelineLoss Loss
    {
        get
        {
            var c = _reassembler.Counters;
            return new PipelineLoss(c.SerialGaps, c.EvictedByCount + c.EvictedByBytes, c.RecordsRejected);
        }
    }

    public void Dispose() => _sink.Dispose();

    private static partial class Log
    {
        [LoggerMessage(90, LogLevel.Error, "Could not write event {Serial} to the sink: {Message}")]
        public static partial void WriteFailed(ILogger logger, uint serial, string message);

        [LoggerMessage(91, LogLevel.Information, "Account names: {State}")]
        public static partial void AccountsLoaded(ILogger logger, string state);

        [LoggerMessage(92, LogLevel.Warning, "Account names: {State}")]
        public static partial void AccountsProblem(ILogger logger, string state);

        [LoggerMessage(96, LogLevel.Information, "Process table: {Count} processes read from /proc at start")]
        public static partial void Scanned(ILogger logger, int count);

        [LoggerMessage(95, LogLevel.Warning, "The previous run did not stop cleanly: counting serials after {Serial}, the last it spooled; those not received are reported as serial gaps")]
        public static partial void Resumed(ILogger logger, uint serial);
    }
}
