using System.Diagnostics.Metrics;
using Sluice.Collector.Ingest;

namespace Sluice.Collector.Metrics;

/// <summary>
/// The collector's figures as observable instruments of the <see cref="MeterName"/> meter, over the
/// <see cref="IngestCounters"/> that <c>/api/ingest</c> also serves: a scrape reads the same fields,
/// nothing is recorded per call for it.
/// </summary>
/// <remarks>
/// Names are chosen for the Prometheus names OpenTelemetry's exporter derives (docs/metrics.md): dots
/// become underscores, annotations in braces add no suffix, "By" adds _bytes and "s" _seconds, and a
/// counter gets _total; "sluice.ingest.batches" is <c>sluice_ingest_batches_total</c>.
/// </remarks>
internal static class CollectorInstruments
{
    /// <summary>The name of the collector's meter.</summary>
    public const string MeterName = "Sluice.Collector";

    public static void Create(Meter meter, IngestCounters c)
    {
        meter.CreateObservableCounter("sluice.ingest.batches", () => new Measurement<long>[]
        {
            Result(c.BatchesStored, "stored"),
            Result(c.Duplicates, "duplicate"),
            Result(c.RefusedInvalidBatches, "invalid"),
            Result(c.RefusedAlreadyExists, "already_exists"),
            Result(c.RefusedByStore, "store_refused"),
        }, "{batch}", "Batches answered, by result: stored; duplicate (stored before, acknowledged again); refused as invalid, as already_exists (key stored with other content) or store_refused (the store can never take it). The agent counts each refused batch's events as loss (quarantined).");
        meter.CreateObservableCounter("sluice.ingest.events_stored", () => c.EventsStored, "{event}", "Events stored (duplicates not counted again).");
        meter.CreateObservableCounter("sluice.ingest.heartbeats", () => c.Heartbeats, "{heartbeat}", "Heartbeats recorded.");
        meter.CreateObservableCounter("sluice.ingest.refused_calls", () => new Measurement<long>[]
        {
            Reason(c.RefusedUnauthenticated, "unauthenticated"),
            Reason(c.RefusedPermission, "permission_denied"),
            Reason(c.RefusedInvalid, "invalid"),
            Reason(c.RefusedOverLimit, "over_limit"),
            Reason(c.RefusedTooLarge, "too_large"),
        }, "{call}", "Ingest calls (batches and heartbeats) refused, by reason: no or a wrong token, another agent's id, invalid content, the in-flight limit, a message over the size limit.");
        meter.CreateObservableCounter("sluice.ingest.store_failures", () => c.StoreFailures, "{failure}", "Store writes that failed for a reason that may pass (the agent was told to retry).");
        meter.CreateObservableCounter("sluice.ingest.events_interpreted", () => c.EventsInterpreted, "{event}", "Raw-form events interpreted at the collector.");
        meter.CreateObservableCounter("sluice.ingest.interpretation_failures", () => c.InterpretationFailures, "{event}", "Raw-form events whose interpretation failed (stored with their records only).");

        meter.CreateObservableGauge("process.resident_memory", () => Environment.WorkingSet, "By", "The collector's resident memory.");
        meter.CreateObservableCounter("process.cpu", () => Environment.CpuUsage.TotalTime.TotalSeconds, "s", "CPU time the collector used, user and system.");
    }

    /// <summary>The pacing of the fleet through acks (<c>sluice_ingest_pace_*</c>, <see cref="Hosting.IngestPacer"/>).</summary>
    public static void CreatePacing(Meter meter, Hosting.IngestPacer p)
    {
        meter.CreateObservableCounter("sluice.ingest.paced_acks", () => p.PacedAcks, "{ack}", "Acks that told their agent to hold its next batch (next_send_after_ms): calls were waiting for a slot longer than --pace-target-wait-ms.");
        meter.CreateObservableGauge("sluice.ingest.pace", () =>
        {
            p.Update();
            return p.PaceSeconds;
        }, "s", "How long acks now tell agents to hold their next batch (each ack varies it by up to a quarter either way); 0 when the collector keeps up.");
        meter.CreateObservableGauge("sluice.ingest.expected_wait", () => p.ExpectedWaitSeconds, "s", "The wait for a slot a batch call could expect at the last adjustment of the pace: calls waiting / calls completed per second.");
    }

    /// <summary>The event stream's instruments (<c>sluice_stream_*</c>, docs/metrics.md "Collector stream metrics"), created only with <c>--stream</c>.</summary>
    public static void CreateStream(Meter meter, Streaming.StreamCounters s)
    {
        meter.CreateObservableCounter("sluice.stream.enqueued", () => s.Enqueued, "{event}", "Stored events taken into the stream's buffer (resends of stored batches included).");
        meter.CreateObservableCounter("sluice.stream.published", () => s.Published, "{event}", "Events the stream acknowledged as stored.");
        meter.CreateObservableCounter("sluice.stream.duplicates", () => s.Duplicates, "{event}", "Events the stream acknowledged as duplicates: their message id was in its duplicate window (a resend, or a retried publish that had landed).");
        meter.CreateObservableCounter("sluice.stream.dropped_events", () => new Measurement<long>[]
        {
            Reason(s.DroppedBufferFull, "buffer_full"),
            Reason(s.DroppedShutdown, "shutdown"),
            Reason(s.DroppedUnwritable, "unwritable"),
        }, "{event}", "Stored events left out of the stream, by reason: the buffer stayed full for the bounded wait; still buffered when the collector stopped; the payload could not be written or the stream refused it for good.");
        meter.CreateObservableCounter("sluice.stream.publish_failures", () => s.PublishFailures, "{attempt}", "Publish attempts that failed and were retried (timeout, lost connection, no stream or leader).");
        meter.CreateObservableGauge("sluice.stream.buffered", () => s.Buffered, "{event}", "Events in the stream's buffer or being published.");
        meter.CreateObservableGauge("sluice.stream.connected", () => s.Connected ? 1 : 0, "", "1 while the connection to a NATS server is open, else 0.");
    }

    private static Measurement<long> Result(long value, string result) => new(value, new KeyValuePair<string, object?>("result", result));

    private static Measurement<long> Reason(long value, string reason) => new(value, new KeyValuePair<string, object?>("reason", reason));
}
