using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Sluice.Agent.Configuration;
using Sluice.Agent.Filtering;
using Sluice.Agent.Hosting;
using Sluice.Agent.Monitoring;
using Sluice.Agent.Spool;

namespace Sluice.Agent.Tests.Monitoring;

/// <summary>The "Sluice.Agent" meter's instruments report what status shows.</summary>
public sealed class AgentInstrumentsTests
{
    /// <summary>Every measurement of one collection of <paramref name="meter"/>'s instruments, by instrument name and tags ("name" or "name{kind=x}").</summary>
    internal static Dictionary<string, double> Collect(Meter meter)
    {
        var values = new Dictionary<string, double>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, meter))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            string key = tags.Length == 0 ? instrument.Name
                : instrument.Name + "{" + string.Join(",", tags.ToArray().Select(t => $"{t.Key}={t.Value}")) + "}";
            Assert.True(values.TryAdd(key, value), $"{key} measured twice");
        }
        listener.SetMeasurementEventCallback<long>((i, v, t, _) => Record(i, v, t));
        listener.SetMeasurementEventCallback<int>((i, v, t, _) => Record(i, v, t));
        listener.SetMeasurementEventCallback<double>((i, v, t, _) => Record(i, v, t));
        listener.Start();
        listener.RecordObservableInstruments();
        return values;
    }

    /// <summary>Figures of every kind, each a different number; <paramref name="meterName"/> gives the meter a name of its own.</summary>
    internal static AgentMetrics Busy(string? meterName = null)
    {
        var m = new AgentMetrics(null, meterName ?? AgentMetrics.MeterName)
        {
            SpoolCounters = () => new SpoolCounters
            {
                AckedEvents = 900, DepthBytes = 4096, DepthBatches = 3, DepthEvents = 30,
                DroppedBatches = 5, DroppedEvents = 50, QuarantinedBatches = 6, QuarantinedEvents = 60,
                QuarantineTrimmedBatches = 2, QuarantineTrimmedEvents = 20, CorruptBatches = 7, CorruptEvents = 70,
            },
            SpoolAppendFailures = () => (1, 8),
            ShipperStatus = () => new Sluice.Agent.Shipping.ShipperStatus { PacedAcks = 11, PaceMs = 2500, PacedUntil = DateTimeOffset.UnixEpoch },
            FilterCounts = () => [new FilterCount("cron", "Drop", 12, 11)],
            Enrichment = () => new Sluice.Agent.Enrichment.EnrichmentStatus { Enabled = true, Processes = 300, MaxProcesses = 32768, TableBytes = 250_000, Evicted = 4, ParentUnknown = 7, ContainerUnknown = 9, UnitUnknown = 9 },
            IntervalMs = 50,
            Continuous = true,
            ReceiveBufferBytes = 64 << 20,
            WantedBufferBytes = 32 << 20,
            SocketFill = 0.25f,
            TruesizeBytes = 1280,
            Backlog = 9,
            BacklogLimit = 65752,
            EventsPerSecond = 42.5f,
            RecordsPerSecond = 99.5f,
            PeakRecordsPerSecond = 120f,
            RulesLoaded = 17,
        };
        m.AddRecords(1234);
        for (int i = 0; i < 1000; i++)
        {
            m.AddEvent();
        }
        for (int i = 0; i < 7; i++)
        {
            m.AddFiltered();
        }
        for (int i = 0; i < 990; i++)
        {
            m.AddWritten();
        }
        m.AddWriteFailure();
        m.AddLoss(new CaptureLoss { KernelLost = 1, SocketOverruns = 2, Enobufs = 3, SerialGaps = 4, ReassemblyEvicted = 5, Truncated = 6, ParseErrors = 7, BacklogWaitTimeActual = 8 });
        m.AddAdjustment();
        m.AddAdjustment();
        m.AddReplaceRequests(3);
        m.AddWatchdogReassert();
        return m;
    }

    [Fact]
    public void Instruments_ReportWhatStatusShows()
    {
        using var metrics = Busy();
        var status = metrics.Snapshot();

        var measured = Collect(metrics.Meter);
        // The process's own figures: this test host's, whatever they are.
        Assert.True(measured.Remove("process.resident_memory", out double rss) && rss > 0);
        Assert.True(measured.Remove("process.cpu", out double cpu) && cpu > 0);

        var expected = new Dictionary<string, double>
        {
            ["sluice.records"] = status.Records,
            ["sluice.events"] = status.Events,
            ["sluice.events.filtered"] = status.Filtered,
            ["sluice.events.written"] = status.Written,
            ["sluice.events.write_failures"] = status.WriteFailures,
            ["sluice.events.delivered"] = status.Spool!.Value.AckedEvents,
            ["sluice.filter.matched{rule=cron,action=Drop}"] = status.FilterRules[0].Matched,
            ["sluice.filter.dropped{rule=cron,action=Drop}"] = status.FilterRules[0].Dropped,
            ["sluice.loss.events{kind=kernel_lost}"] = status.KernelLost,
            ["sluice.loss.events{kind=socket_overruns}"] = status.SocketOverruns,
            ["sluice.loss.events{kind=serial_gaps}"] = status.SerialGaps,
            ["sluice.loss.events{kind=reassembly_evicted}"] = status.ReassemblyEvicted,
            ["sluice.loss.events{kind=spool_dropped}"] = status.SpoolDroppedEvents,
            ["sluice.loss.events{kind=quarantined}"] = status.Spool!.Value.QuarantinedEvents,
            ["sluice.loss.events{kind=spool_corrupt}"] = status.Spool!.Value.CorruptEvents,
            ["sluice.loss.batches{kind=spool_dropped}"] = status.SpoolDroppedBatches,
            ["sluice.loss.batches{kind=quarantined}"] = status.Spool!.Value.QuarantinedBatches,
            ["sluice.loss.batches{kind=spool_corrupt}"] = status.Spool!.Value.CorruptBatches,
            ["sluice.quarantine.trimmed_events"] = status.Spool!.Value.QuarantineTrimmedEvents,
            ["sluice.socket.enobufs"] = status.Enobufs,
            ["sluice.records.truncated"] = status.Truncated,
            ["sluice.records.parse_errors"] = status.ParseErrors,
            ["sluice.kernel.backlog_wait_jiffies"] = status.BacklogWaitTimeActual,
            ["sluice.drain.adjustments"] = status.Adjustments,
            ["sluice.kernel.replace_requests"] = status.ReplaceRequests,
            ["sluice.watchdog.reasserts"] = status.WatchdogReasserts,
            ["sluice.drain.interval"] = status.IntervalMs / 1000.0,
            ["sluice.drain.continuous"] = status.Continuous ? 1 : 0,
            ["sluice.socket.receive_buffer"] = status.ReceiveBufferBytes,
            ["sluice.socket.wanted_buffer"] = status.WantedBufferBytes,
            ["sluice.socket.fill_ratio"] = status.SocketFill,
            ["sluice.socket.record_truesize"] = status.TruesizeBytes,
            ["sluice.kernel.backlog"] = status.Backlog,
            ["sluice.kernel.backlog_limit"] = status.BacklogLimit,
            ["sluice.events.per_second"] = status.EventsPerSecond,
            ["sluice.records.per_second"] = status.RecordsPerSecond,
            ["sluice.records.peak_per_second"] = status.PeakRecordsPerSecond,
            ["sluice.rules.loaded"] = status.RulesLoaded,
            ["sluice.spool"] = status.Spool!.Value.DepthBytes,
            ["sluice.spool.batches"] = status.Spool!.Value.DepthBatches,
            ["sluice.spool.events"] = status.Spool!.Value.DepthEvents,
            ["sluice.shipper.paced_acks"] = status.Shipping!.PacedAcks,
            ["sluice.shipper.pace"] = status.Shipping!.PaceSeconds,
            ["sluice.enrichment.processes"] = status.Enrichment.Processes,
            ["sluice.enrichment.table"] = status.Enrichment.TableBytes,
            ["sluice.enrichment.evictions"] = status.Enrichment.Evicted,
            ["sluice.enrichment.unknown{field=parent}"] = status.Enrichment.ParentUnknown,
            ["sluice.enrichment.unknown{field=container}"] = status.Enrichment.ContainerUnknown,
            ["sluice.enrichment.unknown{field=unit}"] = status.Enrichment.UnitUnknown,
        };
        Assert.Equal(expected.OrderBy(kv => kv.Key), measured.OrderBy(kv => kv.Key));
        // The loss kinds add up to the total status prints.
        Assert.Equal(status.TotalLoss, measured.Where(kv => kv.Key.StartsWith("sluice.loss.events{", StringComparison.Ordinal)).Sum(kv => kv.Value));
        Assert.Equal(1 + 2 + 4 + 5 + 58 + 60 + 70, status.TotalLoss);
        Assert.Equal((11.0, 2.5), (measured["sluice.shipper.paced_acks"], measured["sluice.shipper.pace"]));
    }

    [Fact]
    public void Instruments_WithoutSpool_NoSpoolFiguresAndLossFromTheKernelPath()
    {
        using var metrics = new AgentMetrics();
        metrics.AddLoss(new CaptureLoss { KernelLost = 3, SerialGaps = 2 });

        var measured = Collect(metrics.Meter);

        Assert.DoesNotContain(measured.Keys, k => k.StartsWith("sluice.spool", StringComparison.Ordinal) || k.StartsWith("sluice.loss.batches", StringComparison.Ordinal)
            || k.StartsWith("sluice.shipper", StringComparison.Ordinal));
        Assert.Equal(0, measured["sluice.loss.events{kind=spool_dropped}"]);
        Assert.Equal(metrics.Snapshot().TotalLoss, measured.Where(kv => kv.Key.StartsWith("sluice.loss.events{", StringComparison.Ordinal)).Sum(kv => kv.Value));
        Assert.Equal(5, metrics.Snapshot().TotalLoss);
    }

    [Fact]
    public void Host_MetricsAreOnTheSluiceAgentMeter()
    {
        string dir = Directory.CreateTempSubdirectory("sluice-meter-").FullName;
        try
        {
            string config = Path.Combine(dir, "agent.json");
            File.WriteAllText(config, AgentRunner.Config(dir, ""));
            using var host = AgentHost.Build(AgentConfiguration.Build(config));
            var metrics = host.Services.GetRequiredService<AgentMetrics>();
            metrics.AddLoss(new CaptureLoss { SocketOverruns = 4 });

            Assert.Equal(AgentMetrics.MeterName, metrics.Meter.Name);
            Assert.Equal(4, Collect(metrics.Meter)["sluice.loss.events{kind=socket_overruns}"]);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
