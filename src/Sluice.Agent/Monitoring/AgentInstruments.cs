using System.Diagnostics.Metrics;

namespace Sluice.Agent.Monitoring;

/// <summary>
/// The agent's figures as observable instruments of the <see cref="AgentMetrics.MeterName"/> meter,
/// for metric listeners and exporters. Each reads what <see cref="AgentMetrics.Snapshot"/> reads,
/// so they report what status and the heartbeat show. Loss kinds are tagged <c>kind</c> with the
/// names status and <see cref="Protocol.V1.LossCounters"/> give them (docs/loss-model.md).
/// </summary>
/// <remarks>
/// Observable: nothing is recorded as the agent runs; a listener's collection calls the callbacks.
/// Single values allocate nothing; the tagged and spool ones build their few measurements then.
/// </remarks>
internal static class AgentInstruments
{
    private const string Prefix = "sluice.agent.";

    public static void Create(Meter meter, AgentMetrics m)
    {
        // What went through.
        meter.CreateObservableCounter(Prefix + "records", () => m.Records, "{record}", "Records drained from the kernel.");
        meter.CreateObservableCounter(Prefix + "events", () => m.Events, "{event}", "Events assembled from the records.");
        meter.CreateObservableCounter(Prefix + "events.filtered", () => m.Filtered, "{event}", "Events the filters dropped on purpose (not loss).");
        meter.CreateObservableCounter(Prefix + "events.written", () => m.Written, "{event}", "Events handed to the sink.");
        meter.CreateObservableCounter(Prefix + "events.write_failures", () => m.WriteFailures, "{event}", "Events the sink could not take.");
        meter.CreateObservableCounter(Prefix + "events.delivered", () => Spool(m, s => s.AckedEvents), "{event}", "Events the collector acknowledged.");
        meter.CreateObservableCounter(Prefix + "filter.matched", () => Filters(m, f => f.Matched), "{event}", "Events each filter rule matched.");
        meter.CreateObservableCounter(Prefix + "filter.dropped", () => Filters(m, f => f.Dropped), "{event}", "Events each filter rule dropped.");

        // Loss (docs/loss-model.md). The events lost add up to status's total.
        meter.CreateObservableCounter(Prefix + "events.lost", () => Tagged(m.Snapshot().LostEvents), "{event}",
            "Events lost or suspected lost, by kind; their sum is the total loss status shows.");
        meter.CreateObservableCounter(Prefix + "batches.lost", () => Tagged(m.Snapshot().LostBatches), "{batch}",
            "Batches lost whole on the delivery path, by kind (their events are in events.lost).");
        meter.CreateObservableCounter(Prefix + "events.quarantine_trimmed", () => Spool(m, s => s.QuarantineTrimmedEvents), "{event}",
            "Quarantined events whose local copy the quarantine's cap deleted (already in events.lost as quarantined).");
        meter.CreateObservableCounter(Prefix + "socket.enobufs", () => m.CaptureLoss.Enobufs, "{error}",
            "ENOBUFS errors from the event socket: one per overrun (its records are events.lost socket_overruns).");
        meter.CreateObservableCounter(Prefix + "records.truncated", () => m.CaptureLoss.Truncated, "{record}", "Records cut short on receive (MSG_TRUNC).");
        meter.CreateObservableCounter(Prefix + "records.parse_errors", () => m.CaptureLoss.ParseErrors, "{record}", "Records that could not be parsed.");
        meter.CreateObservableCounter(Prefix + "kernel.backlog_wait_time_actual", () => m.CaptureLoss.BacklogWaitTimeActual, "{jiffy}",
            "Time tasks slept on a full kernel backlog since the agent started.");

        // What the agent did about it.
        meter.CreateObservableCounter(Prefix + "adjustments", () => m.Adjustments, "{adjustment}", "Drain interval, buffer and backlog changes.");
        meter.CreateObservableCounter(Prefix + "kernel.replace_requests", () => m.ReplaceRequests, "{request}", "Attempts by other processes to take the audit consumer PID.");
        meter.CreateObservableCounter(Prefix + "watchdog.reasserts", () => m.WatchdogReasserts, "{reassert}", "Kernel settings and rules the watchdog put back.");

        // Levels.
        meter.CreateObservableGauge(Prefix + "drain.interval", () => m.IntervalMs, "ms", "Time between drains.");
        meter.CreateObservableGauge(Prefix + "drain.continuous", () => m.Continuous ? 1 : 0, "1", "1 while the drain reads continuously (the interval is at its floor).");
        meter.CreateObservableGauge(Prefix + "socket.receive_buffer", () => m.ReceiveBufferBytes, "By", "The event socket's receive buffer.");
        meter.CreateObservableGauge(Prefix + "socket.wanted_buffer", () => m.WantedBufferBytes, "By", "The receive buffer the measured rate calls for.");
        meter.CreateObservableGauge(Prefix + "socket.fill", () => (double)m.SocketFill, "1", "Queued bytes as a fraction of the receive buffer.");
        meter.CreateObservableGauge(Prefix + "socket.record_truesize", () => m.TruesizeBytes, "By", "Measured buffer cost of one record.");
        meter.CreateObservableGauge(Prefix + "kernel.backlog", () => m.Backlog, "{record}", "Records in the kernel's audit backlog.");
        meter.CreateObservableGauge(Prefix + "kernel.backlog_limit", () => m.BacklogLimit, "{record}", "The kernel's backlog_limit.");
        meter.CreateObservableGauge(Prefix + "events.rate", () => (double)m.EventsPerSecond, "{event}/s", "Events assembled per second.");
        meter.CreateObservableGauge(Prefix + "records.rate", () => (double)m.RecordsPerSecond, "{record}/s", "Records drained per second.");
        meter.CreateObservableGauge(Prefix + "records.peak_rate", () => (double)m.PeakRecordsPerSecond, "{record}/s", "Recent peak of records per second (slowly decaying).");
        meter.CreateObservableGauge(Prefix + "rules.loaded", () => m.RulesLoaded, "{rule}", "Audit rules in force.");
        meter.CreateObservableGauge(Prefix + "spool.size", () => Spool(m, s => s.DepthBytes), "By", "Bytes of the spool's segment files.");
        meter.CreateObservableGauge(Prefix + "spool.batches", () => Spool(m, s => s.DepthBatches), "{batch}", "Batches waiting in the spool.");
        meter.CreateObservableGauge(Prefix + "spool.events", () => Spool(m, s => s.DepthEvents), "{event}", "Events waiting in the spool.");
    }

    private static Measurement<long>[] Tagged(IReadOnlyList<(string Kind, long Count)> kinds)
    {
        var measurements = new Measurement<long>[kinds.Count];
        for (int i = 0; i < kinds.Count; i++)
        {
            measurements[i] = new Measurement<long>(kinds[i].Count, new KeyValuePair<string, object?>("kind", kinds[i].Kind));
        }
        return measurements;
    }

    /// <summary>A spool figure, or nothing when events do not go to a collector.</summary>
    private static Measurement<long>[] Spool(AgentMetrics m, Func<Spool.SpoolCounters, long> value) =>
        m.SpoolCounters?.Invoke() is { } s ? [new Measurement<long>(value(s))] : [];

    private static Measurement<long>[] Filters(AgentMetrics m, Func<Filtering.FilterCount, long> value) =>
        [.. (m.FilterCounts?.Invoke() ?? []).Select(f => new Measurement<long>(value(f),
            new KeyValuePair<string, object?>("rule", f.Name), new KeyValuePair<string, object?>("action", f.Action)))];
}
