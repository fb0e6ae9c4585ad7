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
    private static Dictionary<string, double> Collect(Meter meter)
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

    private static AgentMetrics Busy()
    {
        var m = new AgentMetrics
        {
            SpoolCounters = () => new SpoolCounters
            {
                AckedEvents = 900, DepthBytes = 4096, DepthBatches = 3, DepthEvents = 30,
                DroppedBatches = 5, DroppedEvents = 50, QuarantinedBatches = 6, QuarantinedEvents = 60,
                QuarantineTrimmedBatches = 2, QuarantineTrimmedEvents = 20, CorruptBatches = 7, CorruptEvents = 70,
            },
            SpoolAppendFailures = () => (1, 8),
            FilterCounts = () => [new FilterCount("cron", "Drop", 12, 11)],
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

        var expected = new Dictionary<string, double>
        {
            ["sluice.agent.records"] = status.Records,
            ["sluice.agent.events"] = status.Events,
            ["sluice.agent.events.filtered"] = status.Filtered,
            ["sluice.agent.events.written"] = status.Written,
            ["sluice.agent.events.write_failures"] = status.WriteFailures,
            ["sluice.agent.events.delivered"] = status.Spool!.Value.AckedEvents,
            ["sluice.agent.filter.matched{rule=cron,action=Drop}"] = status.FilterRules[0].Matched,
            ["sluice.agent.filter.dropped{rule=cron,action=Drop}"] = status.FilterRules[0].Dropped,
            ["sluice.agent.events.lost{kind=kernel_lost}"] = status.KernelLost,
            ["sluice.agent.events.lost{kind=socket_overruns}"] = status.SocketOverruns,
            ["sluice.agent.events.lost{kind=serial_gaps}"] = status.SerialGaps,
            ["sluice.agent.events.lost{kind=reassembly_evicted}"] = status.ReassemblyEvicted,
            ["sluice.agent.events.lost{kind=spool_dropped}"] = status.SpoolDroppedEvents,
            ["sluice.agent.events.lost{kind=quarantined}"] = status.Spool!.Value.QuarantinedEvents,
            ["sluice.agent.events.lost{kind=spool_corrupt}"] = status.Spool!.Value.CorruptEvents,
            ["sluice.agent.batches.lost{kind=spool_dropped}"] = status.SpoolDroppedBatches,
            ["sluice.agent.batches.lost{kind=quarantined}"] = status.Spool!.Value.QuarantinedBatches,
            ["sluice.agent.batches.lost{kind=spool_corrupt}"] = status.Spool!.Value.CorruptBatches,
            ["sluice.agent.events.quarantine_trimmed"] = status.Spool!.Value.QuarantineTrimmedEvents,
            ["sluice.agent.socket.enobufs"] = status.Enobufs,
            ["sluice.agent.records.truncated"] = status.Truncated,
            ["sluice.agent.records.parse_errors"] = status.ParseErrors,
            ["sluice.agent.kernel.backlog_wait_time_actual"] = status.BacklogWaitTimeActual,
            ["sluice.agent.adjustments"] = status.Adjustments,
            ["sluice.agent.kernel.replace_requests"] = status.ReplaceRequests,
            ["sluice.agent.watchdog.reasserts"] = status.WatchdogReasserts,
            ["sluice.agent.drain.interval"] = status.IntervalMs,
            ["sluice.agent.drain.continuous"] = status.Continuous ? 1 : 0,
            ["sluice.agent.socket.receive_buffer"] = status.ReceiveBufferBytes,
            ["sluice.agent.socket.wanted_buffer"] = status.WantedBufferBytes,
            ["sluice.agent.socket.fill"] = status.SocketFill,
            ["sluice.agent.socket.record_truesize"] = status.TruesizeBytes,
            ["sluice.agent.kernel.backlog"] = status.Backlog,
            ["sluice.agent.kernel.backlog_limit"] = status.BacklogLimit,
            ["sluice.agent.events.rate"] = status.EventsPerSecond,
            ["sluice.agent.records.rate"] = status.RecordsPerSecond,
            ["sluice.agent.records.peak_rate"] = status.PeakRecordsPerSecond,
            ["sluice.agent.rules.loaded"] = status.RulesLoaded,
            ["sluice.agent.spool.size"] = status.Spool!.Value.DepthBytes,
            ["sluice.agent.spool.batches"] = status.Spool!.Value.DepthBatches,
            ["sluice.agent.spool.events"] = status.Spool!.Value.DepthEvents,
        };
        Assert.Equal(expected.OrderBy(kv => kv.Key), measured.OrderBy(kv => kv.Key));
        // The loss kinds add up to the total status prints.
        Assert.Equal(status.TotalLoss, measured.Where(kv => kv.Key.StartsWith("sluice.agent.events.lost{", StringComparison.Ordinal)).Sum(kv => kv.Value));
        Assert.Equal(1 + 2 + 4 + 5 + 58 + 60 + 70, status.TotalLoss);
    }

    [Fact]
    public void Instruments_WithoutSpool_NoSpoolFiguresAndLossFromTheKernelPath()
    {
        using var metrics = new AgentMetrics();
        metrics.AddLoss(new CaptureLoss { KernelLost = 3, SerialGaps = 2 });

        var measured = Collect(metrics.Meter);

        Assert.DoesNotContain(measured.Keys, k => k.StartsWith("sluice.agent.spool.", StringComparison.Ordinal) || k.StartsWith("sluice.agent.batches.lost", StringComparison.Ordinal));
        Assert.Equal(0, measured["sluice.agent.events.lost{kind=spool_dropped}"]);
        Assert.Equal(metrics.Snapshot().TotalLoss, measured.Where(kv => kv.Key.StartsWith("sluice.agent.events.lost{", StringComparison.Ordinal)).Sum(kv => kv.Value));
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
            Assert.Equal(4, Collect(metrics.Meter)["sluice.agent.events.lost{kind=socket_overruns}"]);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
