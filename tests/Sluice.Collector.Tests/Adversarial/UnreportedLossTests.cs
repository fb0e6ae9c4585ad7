using System.Net;
using System.Text.Json;
using Sluice.Collector.Reports;
using Sluice.Collector.Tests.Dashboard;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;
using static Sluice.Collector.Tests.Adversarial.AdversarialReport;

namespace Sluice.Collector.Tests.Adversarial;

/// <summary>
/// Issue case 6, report and dashboard side: loss the agent reports in batches (quarantined, trimmed from the
/// quarantine, unreadable in the spool, whole spool batches dropped) reaches the report's per-host and fleet
/// totals and /api/fleet with its exact numbers, and the host is never called complete. Each store.
/// </summary>
/// <remarks>
/// Two agents send six batches of ten minutes each over one hour, sequences 1 to 6, so coverage is continuous
/// and there is no delivery gap: only the reported loss can make a host incomplete. "lossy" reports, in batch 3,
/// 2 quarantined batches of 40 events, 1 of them (15 events) trimmed from the quarantine, and 3 unreadable
/// spool entries of 27 events; in batch 5, 4 spool batches dropped whole; in batch 1, 9 events filtered (not
/// loss). "steady" reports nothing.
/// </remarks>
public abstract class UnreportedLossTests : PerStoreTests
{
    private protected UnreportedLossTests(IStoreFactory stores) : base(stores)
    {
    }

    private const long T0 = TestEvents.BaseUnixMs;
    private const long Minute = 60_000;
    private const long End = T0 + 60 * Minute;

    private const long QuarantinedBatches = 2, QuarantinedEvents = 40, TrimmedBatches = 1, TrimmedEvents = 15;
    private const long CorruptBatches = 3, CorruptEvents = 27, DroppedBatches = 4, Filtered = 9;
    // Each event once: quarantined and unreadable; trims are already in quarantined. Whole batches: dropped, quarantined, unreadable.
    private const long TotalLost = QuarantinedEvents + CorruptEvents;
    private const long BatchesLost = DroppedBatches + QuarantinedBatches + CorruptBatches;

    private const string LossyVerdict =
        "gaps: 67 lost and 5 batches lost 2025-11-25 00:20:00 to 2025-11-25 00:30:00 (quarantined batches 2, quarantined events 40, quarantine trimmed batches 1, "
        + "quarantine trimmed events 15, spool corrupt batches 3, spool corrupt events 27); 4 batches lost 2025-11-25 00:40:00 to 2025-11-25 00:50:00 (spool dropped batches 4)";

    private static IEnumerable<EventBatch> Batches(string agent)
    {
        for (ulong seq = 1; seq <= 6; seq++)
        {
            var loss = (agent, seq) switch
            {
                ("lossy", 1) => new LossCounters { Filtered = Filtered },
                ("lossy", 3) => new LossCounters
                {
                    QuarantinedBatches = QuarantinedBatches, QuarantinedEvents = QuarantinedEvents,
                    QuarantineTrimmedBatches = TrimmedBatches, QuarantineTrimmedEvents = TrimmedEvents,
                    SpoolCorruptBatches = CorruptBatches, SpoolCorruptEvents = CorruptEvents,
                },
                ("lossy", 5) => new LossCounters { SpoolDroppedBatches = DroppedBatches },
                _ => new LossCounters(),
            };
            yield return TenMinuteBatch(T0, agent, seq, 2, firstSerial: (long)seq * 10, loss, stepMs: 1000);
        }
    }

    private static IEnumerable<EventBatch> Fleet() => Batches("lossy").Concat(Batches("steady"));

    private static void AssertLossyCounts(LossCounts l)
    {
        Assert.Equal((QuarantinedBatches, QuarantinedEvents, TrimmedBatches, TrimmedEvents), (l.QuarantinedBatches, l.QuarantinedEvents, l.QuarantineTrimmedBatches, l.QuarantineTrimmedEvents));
        Assert.Equal((CorruptBatches, CorruptEvents, DroppedBatches, 0L, Filtered), (l.SpoolCorruptBatches, l.SpoolCorruptEvents, l.SpoolDroppedBatches, l.SpoolDropped, l.Filtered));
        Assert.Equal((0L, 0L, 0L, 0L, 0L), (l.KernelLost, l.SocketOverruns, l.SerialGaps, l.ReassemblyEvicted, l.Truncated));
        Assert.Equal((TotalLost, BatchesLost), (l.Total, l.BatchesLost));
    }

    private static void AssertLossyJson(JsonElement loss)
    {
        Assert.Equal(QuarantinedBatches, loss.GetProperty("quarantined_batches").GetInt64());
        Assert.Equal(QuarantinedEvents, loss.GetProperty("quarantined_events").GetInt64());
        Assert.Equal(TrimmedBatches, loss.GetProperty("quarantine_trimmed_batches").GetInt64());
        Assert.Equal(TrimmedEvents, loss.GetProperty("quarantine_trimmed_events").GetInt64());
        Assert.Equal(CorruptBatches, loss.GetProperty("spool_corrupt_batches").GetInt64());
        Assert.Equal(CorruptEvents, loss.GetProperty("spool_corrupt_events").GetInt64());
        Assert.Equal(DroppedBatches, loss.GetProperty("spool_dropped_batches").GetInt64());
        Assert.Equal(0, loss.GetProperty("spool_dropped").GetInt64());
        Assert.Equal(Filtered, loss.GetProperty("filtered").GetInt64());
        Assert.Equal(TotalLost, loss.GetProperty("total").GetInt64());
        Assert.Equal(BatchesLost, loss.GetProperty("batches_lost").GetInt64());
        Assert.True(loss.GetProperty("any_loss").GetBoolean());
    }

    [Fact]
    public async Task Report_QuarantineTrimsCorruptionAndDroppedBatches_PerHostAndFleetExactAndNotComplete()
    {
        var (store, _) = await Stores.CreateAsync();
        await using var _s = store;
        foreach (var batch in Fleet())
        {
            var outcome = await store.StoreBatchAsync(batch, batch.IntervalEndUnixMs + 5, CancellationToken.None);
            Assert.Equal((false, 2), (outcome.Duplicate, outcome.EventsStored));
        }

        var r = await new ReportBuilder(store, new FixedTime(End + 10 * Minute)).BuildAsync(new ReportRequest(T0, End, null, null), CancellationToken.None);

        var lossy = r.Coverage.Single(h => h.AgentId == "lossy");
        Assert.Equal([(T0, End, true)], lossy.Intervals.Select(i => (i.StartUnixMs, i.EndUnixMs, i.Connected)));
        AssertLossyCounts(lossy.Loss);
        Assert.True(lossy.Loss.AnyLoss);
        Assert.False(lossy.Complete);
        Assert.Equal(LossyVerdict, lossy.Verdict);
        Assert.Equal([(T0 + 20 * Minute, TotalLost, 5L), (T0 + 40 * Minute, 0L, DroppedBatches)], lossy.LossReports.Select(l => (l.StartUnixMs, l.Loss.Total, l.Loss.BatchesLost)));
        Assert.Equal((TotalLost, BatchesLost), (lossy.Intervals[0].Loss.Total, lossy.Intervals[0].Loss.BatchesLost));
        Assert.Equal([("lossy", T0, TotalLost, BatchesLost)], r.LossOverTime.Select(h => (h.AgentId, h.HourUnixMs, h.Loss.Total, h.Loss.BatchesLost)));
        Assert.False(lossy.Delivery.AnyProblem);
        Assert.Equal((12L, 6L), (lossy.Events, lossy.Batches));

        var steady = r.Coverage.Single(h => h.AgentId == "steady");
        Assert.True(steady.Complete);
        Assert.Equal("continuous, complete", steady.Verdict);
        Assert.Equal(0, steady.Loss.Total);

        Assert.Equal((2, 1, 24L), (r.Totals.Hosts, r.Totals.Complete, r.Totals.Events));
        AssertLossyCounts(r.Totals.Loss);

        string md = ReportMarkdown.Render(r);
        Assert.Contains("- Coverage: 1 of 2 hosts continuous and complete\n", md);
        Assert.Contains("- Loss, all hosts: 67 events lost (spool dropped batches 4, quarantined batches 2, quarantined events 40, quarantine trimmed batches 1, "
            + "quarantine trimmed events 15, spool corrupt batches 3, spool corrupt events 27); 9 whole batches lost\n", md);

        var csv = ReportCsv.Render(r, "/nonexistent/report.csv").ToDictionary(f => Path.GetFileName(f.Path), f => f.Content);
        var row = CsvRow(csv["report.coverage.csv"], "lossy");
        Assert.Equal(("no", LossyVerdict), (row["complete"], row["verdict"]));
        Assert.Equal(("67", "9", "0", "4"), (row["lost"], row["batches_lost"], row["spool_dropped"], row["spool_dropped_batches"]));
        Assert.Equal(("2", "40", "1", "15"), (row["quarantined_batches"], row["quarantined_events"], row["quarantine_trimmed_batches"], row["quarantine_trimmed_events"]));
        Assert.Equal(("3", "27", "9"), (row["spool_corrupt_batches"], row["spool_corrupt_events"], row["filtered"]));
        var loss = ReportCsv.Render(r, "/nonexistent/report.csv").Single(f => f.Path.EndsWith(".loss.csv", StringComparison.Ordinal)).Content;
        Assert.Equal(3, ParseCsv(loss).Count);

        string html = ReportHtml.Render(r);
        Assert.Contains("<li>Loss, all hosts: 67 events lost (", html);
        Assert.Contains("data-kind=\"quarantined events\" data-lost=\"40\"", html);
        Assert.Contains("data-kind=\"spool corrupt events\" data-lost=\"27\"", html);
    }

    [Fact]
    public async Task Dashboard_Fleet_SameExactNumbersAsTheReportAndNotComplete()
    {
        var (store, _) = await Stores.CreateAsync();
        await using var server = await DashboardData.StartAsync(store);
        await using var _s = server.Store;
        await SendAsync(server, Fleet());

        var (status, fleet) = await GetAsync(server, $"/api/fleet?from={T0 / 1000}&to={End / 1000}");

        Assert.Equal(HttpStatusCode.OK, status);
        var lossy = FleetHost(fleet, "lossy");
        AssertLossyJson(lossy.GetProperty("loss"));
        Assert.False(lossy.GetProperty("complete").GetBoolean());
        Assert.Equal(LossyVerdict, lossy.GetProperty("verdict").GetString());
        Assert.Equal(3_600_000, lossy.GetProperty("connected_ms").GetInt64());
        Assert.Equal(0, lossy.GetProperty("delivery").GetProperty("delivery_gaps").GetInt64());
        var steady = FleetHost(fleet, "steady");
        Assert.True(steady.GetProperty("complete").GetBoolean());
        Assert.Equal(0, steady.GetProperty("loss").GetProperty("batches_lost").GetInt64());

        var totals = fleet.GetProperty("totals");
        Assert.Equal((2, 1), (totals.GetProperty("hosts").GetInt32(), totals.GetProperty("complete").GetInt32()));
        AssertLossyJson(totals.GetProperty("loss"));
        Assert.All(Numbers(fleet), n => Assert.True(n.Value >= 0, $"{n.Path} is {n.Value}"));

        // The drill-down: the same totals, and the hour's loss with its new kinds.
        var (_, host) = await GetAsync(server, $"/api/hosts/lossy?from={T0 / 1000}&to={End / 1000}");
        AssertLossyJson(host.GetProperty("host").GetProperty("loss"));
        var hour = Assert.Single(host.GetProperty("loss_over_time").EnumerateArray());
        Assert.Equal((TotalLost, BatchesLost, QuarantinedEvents, CorruptEvents),
            (hour.GetProperty("loss").GetProperty("total").GetInt64(), hour.GetProperty("loss").GetProperty("batches_lost").GetInt64(),
             hour.GetProperty("loss").GetProperty("quarantined_events").GetInt64(), hour.GetProperty("loss").GetProperty("spool_corrupt_events").GetInt64()));
    }
}

public sealed class SqliteUnreportedLossTests() : UnreportedLossTests(new SqliteStoreFactory());

[Collection(PostgresCollection.Name)]
public sealed class PostgresUnreportedLossTests(PostgresFixture pg) : UnreportedLossTests(new PostgresStoreFactory(pg.Cluster));
