using System.Net;
using System.Text.Json;
using Sluice.Collector.Reports;
using Sluice.Collector.Tests.Dashboard;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;
using static Sluice.Collector.Tests.Adversarial.AdversarialReport;

namespace Sluice.Collector.Tests.Adversarial;

/// <summary>
/// Issue case 4, report and dashboard side: loss counters of 2^63 - 1 (and of 2^64 - 1 on the wire) in one batch
/// and more in others. The report and /api/fleet neither fail nor show a negative number: each sum stops at
/// 2^63 - 1, exactly, and sums below it stay exact. Each store.
/// </summary>
/// <remarks>
/// Three batches of 10 minutes from "huge", one from "small":
/// <code>
/// huge 1: kernel_lost 2^64 - 1 (stored as 2^63 - 1), quarantined_events 2^63 - 1, spool_corrupt_batches 2^63 - 1, filtered 2^63 - 1, parse_errors 2^62
/// huge 2: kernel_lost 1, spool_dropped_batches 1, filtered 2^63 - 1, parse_errors 2^62 - 6
/// huge 3: nothing
/// small 1: kernel_lost 5
/// </code>
/// </remarks>
public abstract class CounterOverflowReportTests : PerStoreTests
{
    private protected CounterOverflowReportTests(IStoreFactory stores) : base(stores)
    {
    }

    private const long T0 = TestEvents.BaseUnixMs;
    private const long Minute = 60_000;
    private const long End = T0 + 30 * Minute;
    private const long Max = long.MaxValue;
    private const long Quarter = 1L << 62;

    private static EventBatch Batch(string agent, ulong seq, LossCounters loss) =>
        TenMinuteBatch(T0, agent, seq, 1, firstSerial: (long)seq, loss);

    private static IEnumerable<EventBatch> Fleet() =>
    [
        Batch("huge", 1, new LossCounters { KernelLost = ulong.MaxValue, QuarantinedEvents = Max, SpoolCorruptBatches = Max, Filtered = Max, ParseErrors = Quarter }),
        Batch("huge", 2, new LossCounters { KernelLost = 1, SpoolDroppedBatches = 1, Filtered = Max, ParseErrors = Quarter - 6 }),
        Batch("huge", 3, new LossCounters()),
        Batch("small", 1, new LossCounters { KernelLost = 5 }),
    ];

    private static void AssertHuge(LossCounts l)
    {
        Assert.Equal((Max, Max, Max, 1L), (l.KernelLost, l.QuarantinedEvents, l.SpoolCorruptBatches, l.SpoolDroppedBatches));
        // Saturated where the sum passes 2^63 - 1; exact below it.
        Assert.Equal((Max, Max - 5), (l.Filtered, l.ParseErrors));
        Assert.Equal((Max, Max), (l.Total, l.BatchesLost));
    }

    [Fact]
    public async Task Report_CountersAtTheLimit_ExactSaturatedSumsInEveryFormatNoFailureNoNegative()
    {
        var (store, _) = await Stores.CreateAsync();
        await using var _s = store;
        foreach (var batch in Fleet())
        {
            await store.StoreBatchAsync(batch, batch.IntervalEndUnixMs + 5, CancellationToken.None);
        }

        var r = await new ReportBuilder(store, new FixedTime(End + 10 * Minute)).BuildAsync(new ReportRequest(T0, End, null, null), CancellationToken.None);

        var huge = r.Coverage.Single(h => h.AgentId == "huge");
        AssertHuge(huge.Loss);
        Assert.False(huge.Complete);
        Assert.Equal([(Max, Max), (1L, 1L)], huge.LossReports.Select(l => (l.Loss.Total, l.Loss.BatchesLost)));
        var interval = Assert.Single(huge.Intervals);
        Assert.Equal((Max, Max, Max), (interval.Loss.KernelLost, interval.Loss.Total, interval.Loss.BatchesLost));
        Assert.Equal([("huge", T0, Max), ("small", T0, 5L)], r.LossOverTime.Select(h => (h.AgentId, h.HourUnixMs, h.Loss.Total)));
        Assert.Equal(
            "gaps: 9223372036854775807 lost and 9223372036854775807 batches lost 2025-11-25 00:00:00 to 2025-11-25 00:10:00 (kernel 9223372036854775807, "
            + "quarantined events 9223372036854775807, spool corrupt batches 9223372036854775807); 1 lost and 1 batches lost 2025-11-25 00:10:00 to 2025-11-25 00:20:00 "
            + "(kernel 1, spool dropped batches 1)",
            huge.Verdict);

        var small = r.Coverage.Single(h => h.AgentId == "small");
        Assert.Equal((5L, 5L), (small.Loss.KernelLost, small.Loss.Total));
        // The fleet: huge + small saturates, never wraps.
        Assert.Equal((Max, Max, Max), (r.Totals.Loss.KernelLost, r.Totals.Loss.Total, r.Totals.Loss.BatchesLost));
        Assert.Equal((Max - 5, 0), (r.Totals.Loss.ParseErrors, r.Totals.Complete));

        string json = ReportJson.Serialize(r);
        using (var doc = JsonDocument.Parse(json))
        {
            Assert.All(Numbers(doc.RootElement), n => Assert.True(n.Value >= 0, $"{n.Path} is {n.Value}"));
            var loss = doc.RootElement.GetProperty("totals").GetProperty("loss");
            Assert.Equal(Max, loss.GetProperty("total").GetInt64());
            Assert.Equal(Max - 5, loss.GetProperty("parse_errors").GetInt64());
        }
        List<string> rendered = [ReportMarkdown.Render(r), ReportHtml.Render(r), .. ReportCsv.Render(r, "/nonexistent/r.csv").Select(f => f.Content)];
        foreach (string text in rendered)
        {
            Assert.DoesNotContain("-92233", text);
        }
        string md = ReportMarkdown.Render(r);
        Assert.Contains("- Loss, all hosts: 9223372036854775807 events lost (kernel 9223372036854775807, spool dropped batches 1, quarantined events 9223372036854775807, "
            + "spool corrupt batches 9223372036854775807); 9223372036854775807 whole batches lost\n", md);
        var row = CsvRow(ReportCsv.Render(r, "/nonexistent/r.csv").Single(f => f.Path.EndsWith(".coverage.csv", StringComparison.Ordinal)).Content, "huge");
        Assert.Equal(("9223372036854775807", "9223372036854775807", "9223372036854775807", "9223372036854775802"),
            (row["lost"], row["batches_lost"], row["filtered"], row["parse_errors"]));
    }

    [Fact]
    public async Task Dashboard_CountersAtTheLimit_FleetHostAndReportSaturatedNoNegative()
    {
        var (store, _) = await Stores.CreateAsync();
        await using var server = await DashboardData.StartAsync(store);
        await using var _s = server.Store;
        await SendAsync(server, Fleet());
        string range = $"from={T0 / 1000}&to={End / 1000}";

        var (status, fleet) = await GetAsync(server, "/api/fleet?" + range);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.All(Numbers(fleet), n => Assert.True(n.Value >= 0, $"{n.Path} is {n.Value}"));
        var huge = FleetHost(fleet, "huge").GetProperty("loss");
        Assert.Equal((Max, Max, Max, Max - 5), (huge.GetProperty("kernel_lost").GetInt64(), huge.GetProperty("total").GetInt64(),
            huge.GetProperty("batches_lost").GetInt64(), huge.GetProperty("parse_errors").GetInt64()));
        Assert.Equal(5, FleetHost(fleet, "small").GetProperty("loss").GetProperty("total").GetInt64());
        var totals = fleet.GetProperty("totals").GetProperty("loss");
        Assert.Equal((Max, Max, Max), (totals.GetProperty("kernel_lost").GetInt64(), totals.GetProperty("total").GetInt64(), totals.GetProperty("filtered").GetInt64()));
        Assert.False(FleetHost(fleet, "huge").GetProperty("complete").GetBoolean());

        var (hostStatus, host) = await GetAsync(server, "/api/hosts/huge?" + range);
        Assert.Equal(HttpStatusCode.OK, hostStatus);
        Assert.All(Numbers(host), n => Assert.True(n.Value >= 0, $"{n.Path} is {n.Value}"));
        Assert.Equal(Max, host.GetProperty("loss_over_time")[0].GetProperty("loss").GetProperty("total").GetInt64());

        var (reportStatus, report) = await GetAsync(server, "/api/report?" + range);
        Assert.Equal(HttpStatusCode.OK, reportStatus);
        Assert.All(Numbers(report), n => Assert.True(n.Value >= 0, $"{n.Path} is {n.Value}"));
        Assert.Equal(Max, report.GetProperty("totals").GetProperty("loss").GetProperty("total").GetInt64());
    }
}

public sealed class SqliteCounterOverflowReportTests() : CounterOverflowReportTests(new SqliteStoreFactory());

[Collection(PostgresCollection.Name)]
public sealed class PostgresCounterOverflowReportTests(PostgresFixture pg) : CounterOverflowReportTests(new PostgresStoreFactory(pg.Cluster));
