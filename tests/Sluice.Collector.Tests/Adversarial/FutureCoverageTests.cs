using System.Net;
using Sluice.Collector.Reports;
using Sluice.Collector.Tests.Dashboard;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;
using static Sluice.Collector.Tests.Adversarial.AdversarialReport;
using static Sluice.Collector.Tests.Reports.ReportDataset;

namespace Sluice.Collector.Tests.Adversarial;

/// <summary>
/// Issue case 8: a range that ends after now (the dashboard's "today") is covered up to now. A healthy host
/// heartbeating until now is continuous and complete, with no gap "to 00:00" of tomorrow; the report says where
/// it cut. Each store; the report with a fixed "now", the dashboard with the collector's clock.
/// </summary>
public abstract class FutureCoverageTests : PerStoreTests
{
    private protected FutureCoverageTests(IStoreFactory stores) : base(stores)
    {
    }

    private const long Hour = 60 * Minute;
    // "Now" in the report tests: 10:30:17 on the range's day.
    private const long Now = T0 + 10 * Hour + 30 * Minute + 17_000;
    private const long Tomorrow = T0 + 24 * Hour;

    /// <summary>"steady" heartbeats every minute until now; "stopped" stopped at 08:00.</summary>
    private static async Task FeedAsync(Sluice.Collector.Storage.IEventStore store)
    {
        for (long t = T0 - Minute; t <= Now; t += Minute)
        {
            await store.StoreHeartbeatAsync(Heartbeat("steady", t, started: T0 - Hour, hash: "h1"), t + 5, CancellationToken.None);
            if (t <= T0 + 8 * Hour)
            {
                await store.StoreHeartbeatAsync(Heartbeat("stopped", t, started: T0 - Hour, hash: "h1"), t + 5, CancellationToken.None);
            }
        }
        var batch = Batch("steady", 1, T0 + 9 * Hour, T0 + 9 * Hour + 10 * Minute, "h1");
        batch.Events.Add(Exec(T0 + 9 * Hour + 1000, 1, euid: 0, auid: 1000, uid: 1000, "/usr/bin/id", "id"));
        await store.StoreBatchAsync(batch, T0 + 9 * Hour + 10 * Minute + 5, CancellationToken.None);
    }

    [Fact]
    public async Task Report_RangeEndingTomorrow_HealthyHostContinuousAndCompleteUntilNow()
    {
        var (store, _) = await Stores.CreateAsync();
        await using var _s = store;
        await FeedAsync(store);

        var r = await new ReportBuilder(store, new FixedTime(Now)).BuildAsync(new ReportRequest(T0, Tomorrow, null, null), CancellationToken.None);

        Assert.Equal((T0, Tomorrow, Now, true), (r.FromUnixMs, r.ToUnixMs, r.CoveredToUnixMs, r.CutAtNow));
        var steady = r.Coverage.Single(h => h.AgentId == "steady");
        Assert.Equal([(T0, Now, true)], steady.Intervals.Select(i => (i.StartUnixMs, i.EndUnixMs, i.Connected)));
        Assert.Equal("continuous, complete", steady.Verdict);
        Assert.True(steady.Complete);
        Assert.Equal((0L, 10 * Hour + 30 * Minute + 17_000), (steady.DisconnectedMs, steady.ConnectedMs));
        Assert.Equal((1L, 1L), (steady.Events, steady.Batches));

        // A host that stopped is disconnected until now, not until tomorrow.
        var stopped = r.Coverage.Single(h => h.AgentId == "stopped");
        Assert.Equal([(T0, T0 + 8 * Hour, true), (T0 + 8 * Hour, Now, false)], stopped.Intervals.Select(i => (i.StartUnixMs, i.EndUnixMs, i.Connected)));
        Assert.Equal("gaps: no agent 2025-11-25 08:00:00 to 2025-11-25 10:30:17 (2h 30m 17s)", stopped.Verdict);
        Assert.Equal(1, r.Totals.Complete);

        string md = ReportMarkdown.Render(r);
        Assert.Contains("- Range: 2025-11-25T00:00:00.000Z to 2025-11-26T00:00:00.000Z (times in UTC", md);
        Assert.Contains("- Coverage window: cut at now (2025-11-25T10:30:17.000Z); the range ends after the report was made, and no agent reports the future\n", md);
        Assert.Contains("The range ends after the report was made: intervals end at 2025-11-25T10:30:17.000Z.", md);
        Assert.DoesNotContain("2025-11-26 00:00:00", md);
        Assert.Contains("\"cut_at_now\": true", ReportJson.Serialize(r));
    }

    [Fact]
    public async Task Report_RangeEndingBeforeNow_NotCut()
    {
        var (store, _) = await Stores.CreateAsync();
        await using var _s = store;
        await FeedAsync(store);

        var r = await new ReportBuilder(store, new FixedTime(Now)).BuildAsync(new ReportRequest(T0, T0 + 10 * Hour, null, null), CancellationToken.None);

        Assert.Equal((T0 + 10 * Hour, false), (r.CoveredToUnixMs, r.CutAtNow));
        Assert.Equal([(T0, T0 + 10 * Hour, true)], r.Coverage.Single(h => h.AgentId == "steady").Intervals.Select(i => (i.StartUnixMs, i.EndUnixMs, i.Connected)));
        Assert.DoesNotContain("Coverage window", ReportMarkdown.Render(r));
    }

    [Fact]
    public async Task Report_RangeWhollyInTheFuture_NothingCoveredNeverComplete()
    {
        var (store, _) = await Stores.CreateAsync();
        await using var _s = store;
        await FeedAsync(store);

        var r = await new ReportBuilder(store, new FixedTime(Now)).BuildAsync(new ReportRequest(Tomorrow, Tomorrow + 24 * Hour, null, null), CancellationToken.None);

        Assert.True(r.CutAtNow);
        Assert.Equal(["steady", "stopped"], r.Coverage.Select(h => h.AgentId));
        Assert.All(r.Coverage, h =>
        {
            Assert.Empty(h.Intervals);
            Assert.False(h.Complete);
            Assert.Equal("gaps: nothing covered: the range starts after the report was made", h.Verdict);
        });
    }

    [Fact]
    public async Task Dashboard_TodayEndingTomorrow_HealthyHostCompleteCoveredToNow()
    {
        var (store, _) = await Stores.CreateAsync();
        await using var server = await DashboardData.StartAsync(store);
        await using var _s = server.Store;
        long sentAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        long from = sentAt / Hour * Hour - Hour;
        long to = from + 24 * Hour;
        var beats = new List<AgentHeartbeat>();
        for (long t = from - Minute; t <= sentAt; t += Minute)
        {
            beats.Add(Heartbeat("steady", t, started: from - Hour, hash: "h1"));
        }
        await SendAsync(server, [], beats);

        var (status, fleet) = await GetAsync(server, $"/api/fleet?from={from / 1000}&to={to / 1000}");
        long queriedAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(fleet.GetProperty("cut_at_now").GetBoolean());
        long coveredTo = fleet.GetProperty("covered_to_unix_ms").GetInt64();
        Assert.InRange(coveredTo, sentAt, queriedAt);
        Assert.Equal(to, fleet.GetProperty("to_unix_ms").GetInt64());
        var steady = FleetHost(fleet, "steady");
        Assert.Equal("continuous, complete", steady.GetProperty("verdict").GetString());
        Assert.True(steady.GetProperty("complete").GetBoolean());
        Assert.Equal(0, steady.GetProperty("disconnected_ms").GetInt64());
        Assert.Equal(coveredTo - from, steady.GetProperty("connected_ms").GetInt64());
        Assert.Equal(1, fleet.GetProperty("totals").GetProperty("complete").GetInt32());

        var (_, host) = await GetAsync(server, $"/api/hosts/steady?from={from / 1000}&to={to / 1000}");
        var interval = Assert.Single(host.GetProperty("host").GetProperty("intervals").EnumerateArray());
        Assert.True(interval.GetProperty("connected").GetBoolean());
        Assert.Equal(from, interval.GetProperty("start_unix_ms").GetInt64());
        Assert.InRange(interval.GetProperty("end_unix_ms").GetInt64(), sentAt, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        Assert.True(host.GetProperty("cut_at_now").GetBoolean());
    }
}

public sealed class SqliteFutureCoverageTests() : FutureCoverageTests(new SqliteStoreFactory());

[Collection(PostgresCollection.Name)]
public sealed class PostgresFutureCoverageTests(PostgresFixture pg) : FutureCoverageTests(new PostgresStoreFactory(pg.Cluster));
