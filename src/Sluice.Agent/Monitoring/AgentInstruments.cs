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
    // Instrument names are chosen for the Prometheus names OpenTelemetry's exporter derives from them
    // (docs/metrics.md): dots become underscores, the unit is appended as a suffix ("By" -> _bytes,
    // "s" -> _seconds, "1" -> _ratio; annotations in braces, like "{event}", add nothing), and a
    // counter gets _total. So "sluice.loss.events" with unit "{event}" is sluice_loss_events_total.
    // MetricsNamesTests holds the exporter's output to the table in docs/metrics.md.

    public static void Create(Meter meter, AgentMetrics m)
    {
        // What went through.
        meter.CreateObservableCounter("sluice.records", () => m.Records, "{record}", "Records drained from the kernel.");
        meter.CreateObservableCounter("sluice.events", () => m.Events, "{event}", "Events assembled from the records.");
        meter.CreateObservableCounter("sluice.events.filtered", () => m.Filtered, "{event}", "Events the filters dropped on purpose (not loss).");
        meter.CreateObservableCounter("sluice.events.written", () => m.Written, "{event}", "Events handed to the sink.");
        meter.CreateObservableCounter("sluice.events.write_failures", () => m.WriteFailures, "{event}", "Events the sink could not take.");
        meter.CreateObservableCounter("sluice.events.delivered", () => Spool(m, s => s.AckedEvents), "{event}", "Events the collector acknowledged (Collector sink only).");
        meter.CreateObservableCounter("sluice.filter.matched", () => Filters(m, f => f.Matched), "{event}", "Events each filter rule matched.");
        meter.CreateObservableCounter("sluice.filter.dropped", () => Filters(m, f => f.Dropped), "{event}", "Events each filter rule dropped.");

        // Loss (docs/loss-model.md). The events lost add up to status's total.
        meter.CreateObservableCounter("sluice.loss.events", () => Tagged(m.Snapshot().LostEvents), "{event}",
            "Events lost or suspected lost, by kind (docs/loss-model.md); their sum is the total loss status shows.");
        meter.CreateObservableCounter("sluice.loss.batches", () => Tagged(m.Snapshot().LostBatches), "{batch}",
            "Batches lost whole on the delivery path, by kind (their events are in sluice_loss_events_total).");
        meter.CreateObservableCounter("sluice.quarantine.trimmed_events", () => Spool(m, s => s.QuarantineTrimmedEvents), "{event}",
            "Quarantined events whose local copy the quarantine's cap deleted (already counted as kind quarantined).");
        meter.CreateObservableCounter("sluice.socket.enobufs", () => m.CaptureLoss.Enobufs, "{error}",
            "ENOBUFS errors from the event socket: one per overrun (its records are kind socket_overruns).");
        meter.CreateObservableCounter("sluice.records.truncated", () => m.CaptureLoss.Truncated, "{record}", "Records cut short on receive (MSG_TRUNC).");
        meter.CreateObservableCounter("sluice.records.parse_errors", () => m.CaptureLoss.ParseErrors, "{record}", "Records that could not be parsed.");
        meter.CreateObservableCounter("sluice.kernel.backlog_wait_jiffies", () => m.CaptureLoss.BacklogWaitTimeActual, "{jiffy}",
            "Time tasks slept on a full kernel backlog since the agent started, in kernel jiffies (backlog_wait_time_actual).");

        // What the agent did about it.
        meter.CreateObservableCounter("sluice.drain.adjustments", () => m.Adjustments, "{adjustment}", "Drain interval, buffer and backlog changes.");
        meter.CreateObservableCounter("sluice.kernel.replace_requests", () => m.ReplaceRequests, "{request}", "Attempts by other processes to take the audit consumer PID.");
        meter.CreateObservableCounter("sluice.watchdog.reasserts", () => m.WatchdogReasserts, "{reassert}", "Kernel settings and rules the watchdog put back.");

        // Levels.
        meter.CreateObservableGauge("sluice.drain.interval", () => m.IntervalMs / 1000.0, "s", "Time between drains.");
        meter.CreateObservableGauge("sluice.drain.continuous", () => m.Continuous ? 1 : 0, null, "1 while the drain reads continuously (the interval is at its floor), else 0.");
        meter.CreateObservableGauge("sluice.socket.receive_buffer", () => m.ReceiveBufferBytes, "By", "The event socket's receive buffer.");
        meter.CreateObservableGauge("sluice.socket.wanted_buffer", () => m.WantedBufferBytes, "By", "The receive buffer the measured rate calls for.");
        meter.CreateObservableGauge("sluice.socket.fill_ratio", () => (double)m.SocketFill, "1", "Queued bytes as a fraction of the receive buffer.");
        meter.CreateObservableGauge("sluice.socket.record_truesize", () => m.TruesizeBytes, "By", "Measured buffer cost of one record.");
        meter.CreateObservableGauge("sluice.kernel.backlog", () => m.Backlog, "{record}", "Records in the kernel's audit backlog.");
        meter.CreateObservableGauge("sluice.kernel.backlog_limit", () => m.BacklogLimit, "{record}", "The kernel's backlog_limit.");
        meter.CreateObservableGauge("sluice.events.per_second", () => (double)m.EventsPerSecond, "{event}", "Events assembled per second, as the agent measured it over the last monitor interval.");
        meter.CreateObservableGauge("sluice.records.per_second", () => (double)m.RecordsPerSecond, "{record}", "Records drained per second, over the last monitor interval.");
        meter.CreateObservableGauge("sluice.records.peak_per_second", () => (double)m.PeakRecordsPerSecond, "{record}", "Recent peak of records per second (slowly decaying).");
        meter.CreateObservableGauge("sluice.rules.loaded", () => m.RulesLoaded, "{rule}", "Audit rules in force.");
        meter.CreateObservableGauge("sluice.spool", () => Spool(m, s => s.DepthBytes), "By", "Bytes of the spool's segment files (Collector sink only).");
        meter.CreateObservableGauge("sluice.spool.batches", () => Spool(m, s => s.DepthBatches), "{batch}", "Batches waiting in the spool.");
        meter.CreateObservableGauge("sluice.spool.events", () => Spool(m, s => s.DepthEvents), "{event}", "Events waiting in the spool.");

        // The shipper (Collector sink only): pacing by the collector (Ack.next_send_after_ms).
        meter.CreateObservableCounter("sluice.shipper.paced_acks", () => Shipper(m, s => s.PacedAcks), "{ack}",
            "Acks with which the collector paced the agent's sends (a nonzero next_send_after_ms).");
        meter.CreateObservableGauge("sluice.shipper.pace", () => Shipper(m, s => s.PaceSeconds), "s",
            "The pace in force: the wait after an ack before the next batch is sent, one in flight at a time; 0 when not paced.");

        // The process table (docs/process-context.md).
        meter.CreateObservableGauge("sluice.enrichment.processes", () => Table(m, t => t.Processes), "{process}", "Processes in the table, live and exited.");
        meter.CreateObservableGauge("sluice.enrichment.table", () => Table(m, t => t.TableBytes), "By", "Approximate bytes the process table's entries hold.");
        meter.CreateObservableCounter("sluice.enrichment.evictions", () => Table(m, t => t.Evicted), "{process}", "Processes pushed out of the table by Enrichment:MaxProcesses.");
        meter.CreateObservableCounter<long>("sluice.enrichment.unknown", () => m.Enrichment?.Invoke() is { Enabled: true } t
            ? [Field(t.ParentUnknown, "parent"), Field(t.ContainerUnknown, "container"), Field(t.UnitUnknown, "unit")]
            : [], "{event}", "Events whose context field (parent, container, unit) was UNKNOWN.");

        // The agent process, the fleet cost (the names Prometheus's client libraries give them).
        meter.CreateObservableGauge("process.resident_memory", () => ProcessResources.Self().RssBytes, "By", "The agent's resident memory (VmRSS).");
        meter.CreateObservableCounter("process.cpu", () => Environment.CpuUsage.TotalTime.TotalSeconds, "s", "CPU time the agent used, user and system.");
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

    /// <summary>A shipper figure, or nothing when events do not go to a collector.</summary>
    private static Measurement<T>[] Shipper<T>(AgentMetrics m, Func<Shipping.ShipperStatus, T> value) where T : struct =>
        m.ShipperStatus?.Invoke() is { } s ? [new Measurement<T>(value(s))] : [];

    /// <summary>A process table figure, or nothing when enrichment is off.</summary>
    private static Measurement<long>[] Table(AgentMetrics m, Func<Enrichment.EnrichmentStatus, long> value) =>
        m.Enrichment?.Invoke() is { Enabled: true } t ? [new Measurement<long>(value(t))] : [];

    private static Measurement<long> Field(long count, string field) => new(count, new KeyValuePair<string, object?>("field", field));

    private static Measurement<long>[] Filters(AgentMetrics m, Func<Filtering.FilterCount, long> value) =>
        [.. (m.FilterCounts?.Invoke() ?? []).Select(f => new Measurement<long>(value(f),
            new KeyValuePair<string, object?>("rule", f.Name), new KeyValuePair<string, object?>("action", f.Action)))];
}
