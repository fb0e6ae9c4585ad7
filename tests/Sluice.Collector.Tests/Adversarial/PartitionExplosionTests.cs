using System.Text.Json;
using Google.Protobuf;
using Grpc.Net.Client;
using Sluice.Collector.Cli;
using Sluice.Collector.Hosting;
using Sluice.Collector.Ingest;
using Sluice.Collector.Storage;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;
using static Sluice.Collector.Tests.Support.CollectorHarness;

namespace Sluice.Collector.Tests.Adversarial;

/// <summary>
/// Issue case 3: one batch with events on 3,000 different days, from 1970 to ten days ahead, sent through the real
/// gRPC collector to each store with the bounds <c>serve</c> gives it (400 days back, 1 day ahead, 4 days a batch).
/// </summary>
public abstract class PartitionExplosionTests : PerStoreTests
{
    private protected PartitionExplosionTests(IStoreFactory stores) : base(stores)
    {
    }

    private const long Day = 86_400_000;

    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-explosion-").FullName;

    public override void Dispose()
    {
        Directory.Delete(_dir, recursive: true);
        base.Dispose();
    }

    /// <summary>
    /// The batch, in this order: 3 events on each of 3 days inside the bounds (10, 5 and 2 days ago), which keep their
    /// time; 1 event on each of 5 more days inside the bounds (300 to 20 days ago), beyond the batch's 4 days; 1 on
    /// each of 9 days ahead (2 to 10 days); 1 on each of 2,983 days from 1970 to 2019. 3,000 days, 3,006 events.
    /// </summary>
    private static (EventBatch Batch, long[] KeptTimes) Batch(long now)
    {
        var times = new List<long>();
        long[] kept = [.. new[] { 10, 5, 2 }.SelectMany(d => new[] { now - d * Day, now - d * Day + 1, now - d * Day + 2 })];
        times.AddRange(kept);
        times.AddRange(new[] { 300, 200, 100, 50, 20 }.Select(d => now - d * Day));
        times.AddRange(Enumerable.Range(2, 9).Select(d => now + d * Day));
        times.AddRange(Enumerable.Range(1, 2983).Select(k => 6L * k * Day + Day / 2));
        var batch = TestEvents.Batch(AgentA, 1, 0);
        batch.Epoch = "fedcba9876543210fedcba9876543210";
        for (int i = 0; i < times.Count; i++)
        {
            batch.Events.Add(TestEvents.Exec(i + 1, times[i], i));
        }
        return (batch, kept);
    }

    [Fact]
    public async Task Send_EventsOverThreeThousandDays_StoredWithTheOutliersUnderTheReceiveTimeAndFewPartitions()
    {
        var (store, spec) = await Stores.CreateAsync(EventTimeBounds.Default);
        await using var h = await CollectorHarness.StartAsync(store);
        bool postgres = Stores.Kind == StoreKind.Postgres;
        long relationsBefore = postgres ? await StoreQuery.LongAsync(spec, "SELECT count(*) FROM pg_class") : 0;
        long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var (batch, kept) = Batch(now);
        Assert.Equal(3_000, batch.Events.Select(e => Math.Floor(e.TimeUnixMs / (double)Day)).Distinct().Count());

        var ack = await h.Client().SendAsync(batch, Bearer(TokenA));

        Assert.Equal((false, 3_006u), (ack.Duplicate, ack.EventsStored));
        long received = await StoreQuery.LongAsync(spec, "SELECT received_ms FROM batches");
        Assert.InRange(received, now, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());

        // Flagged and counted exactly: everything but the 9 events of the 3 days kept.
        var stats = (await h.Store.GetAgentStatsAsync(CancellationToken.None)).Single();
        Assert.Equal((1L, 3_006L, 2_997L), (stats.Batches, stats.Events, stats.TimeAdjustedEvents));
        Assert.Equal(2_997, await StoreQuery.LongAsync(spec, "SELECT time_adjusted_events FROM batches"));
        Assert.Equal(2_997, await StoreQuery.LongAsync(spec, $"SELECT count(*) FROM events WHERE time_adjusted IS NOT NULL AND time_ms = {received}"));
        Assert.Equal(9, await StoreQuery.LongAsync(spec, "SELECT count(*) FROM events WHERE time_adjusted IS NULL"));
        var statsOut = new StringWriter();
        Assert.Equal(0, await StatsCommand.RunAsync(spec, json: true, statsOut, new StringWriter(), CancellationToken.None));
        using (var statsJson = JsonDocument.Parse(statsOut.ToString()))
        {
            Assert.Equal(2_997, statsJson.RootElement.GetProperty("agents")[0].GetProperty("time_adjusted_events").GetInt64());
        }

        if (postgres)
        {
            // The receive day and the 3 days kept: 4 partitions, each a table, its indexes, and a TOAST table with its index.
            var partitions = (await StoreQuery.RowsAsync(spec,
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass ORDER BY 1"))
                .Select(r => r[0]).ToList();
            var expected = new[] { now - 10 * Day, now - 5 * Day, now - 2 * Day, received }
                .Select(t => "events_p" + DateTimeOffset.FromUnixTimeMilliseconds(t).ToString("yyyyMMdd", System.Globalization.CultureInfo.InvariantCulture))
                .Order(StringComparer.Ordinal);
            Assert.Equal(expected, partitions);
            long indexes = await StoreQuery.LongAsync(spec, "SELECT count(*) FROM pg_index WHERE indrelid = 'events'::regclass");
            long created = await StoreQuery.LongAsync(spec, "SELECT count(*) FROM pg_class") - relationsBefore;
            Assert.Equal(EventTimeBounds.Default.MaxDaysPerBatch * (1 + indexes + 2), created);
        }

        // The exact copies keep their own times; the store's order is by index time: the 9 kept first, then the rest in batch order.
        var stored = await StoreSnapshot.EventsAsync(h.Store);
        Assert.Equal(3_006, stored.Count);
        Assert.Equal(Enumerable.Range(1, 3_006).Select(i => (ulong)i), stored.Select(e => e.Event.Serial));
        Assert.All(stored, e => Assert.Equal(batch.Events[(int)e.Event.Serial - 1].ToByteString(), e.Event.ToByteString()));
        var fiveDaysAgo = await StoreSnapshot.EventsAsync(h.Store, new EventQuery(FromUnixMs: now - 5 * Day, ToUnixMs: now - 5 * Day + 3));
        Assert.Equal(kept[3..6], fiveDaysAgo.Select(e => e.Event.TimeUnixMs));
        var atReceipt = await StoreSnapshot.EventsAsync(h.Store, new EventQuery(FromUnixMs: received, ToUnixMs: received + 1));
        Assert.Equal(2_997, atReceipt.Count);
        var search = await h.Store.SearchEventsAsync(new EventSearch { FromUnixMs = 0, ToUnixMs = now + 30 * Day, Limit = 10 }, CancellationToken.None);
        Assert.All(search.Events, e => Assert.Equal(received, e.TimeUnixMs));

        // export without a range, and a report from 1971, both over everything.
        string exportPath = Path.Combine(_dir, "all.jsonl");
        var exportErr = new StringWriter();
        Assert.Equal(0, await ExportCommand.RunAsync(spec, null, null, null, exportPath, exportErr, CancellationToken.None));
        Assert.Equal("sluice-collector export: 3006 events", exportErr.ToString().Trim());
        Assert.Equal(3_006, (await File.ReadAllLinesAsync(exportPath)).Length);
        string reportPath = Path.Combine(_dir, "report.json");
        var reportErr = new StringWriter();
        int rc = await ReportCommand.RunAsync(spec, "1971-01-01T00:00:00Z", "now", null, "json", reportPath, null, null, null, reportErr, CancellationToken.None);
        Assert.True(rc == 0, reportErr.ToString());
        using var report = JsonDocument.Parse(await File.ReadAllTextAsync(reportPath));
        var host = Assert.Single(report.RootElement.GetProperty("coverage").EnumerateArray());
        Assert.Equal((AgentA, 3_006L), (host.GetProperty("agent_id").GetString(), host.GetProperty("events").GetInt64()));
    }

    [Fact]
    public async Task Serve_OtherBounds_AppliedToTheStoreItOpens()
    {
        // As serve --max-event-age-days 30 --max-event-ahead-hours 1 --max-event-days-per-batch 2 would: the collector opens the store itself.
        var (created, spec) = await Stores.CreateAsync();
        await created.DisposeAsync();
        var limits = new IngestLimits { MaxEventAge = TimeSpan.FromDays(30), MaxClockSkewAhead = TimeSpan.FromHours(1), MaxEventDaysPerBatch = 2 };
        await using var server = await CollectorServer.StartAsync(new CollectorOptions
        {
            Listen = "127.0.0.1:0", Store = StoreLocation.Parse(spec), AllowAnonymous = true, Limits = limits, Dashboard = false,
        });
        using var channel = GrpcChannel.ForAddress(server.Address);
        long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var batch = TestEvents.Batch(AgentA, 1, 0);
        long[] times = [now - 40 * Day, now + 2 * 3_600_000, now - 5 * Day, now - 5 * Day + 1, now - 3 * Day];
        for (int i = 0; i < times.Length; i++)
        {
            batch.Events.Add(TestEvents.Exec(i + 1, times[i], i));
        }

        var ack = await new Sluice.Protocol.V1.Ingest.IngestClient(channel).SendAsync(batch);

        // Too old, too far ahead, and day -3 beyond the two days (the receive day and day -5, the busier): 3 adjusted.
        Assert.Equal(5u, ack.EventsStored);
        long received = await StoreQuery.LongAsync(spec, "SELECT received_ms FROM batches");
        var rows = await StoreQuery.RowsAsync(spec, "SELECT serial, time_ms, time_adjusted IS NOT NULL FROM events ORDER BY serial");
        static string T(long ms) => ms.ToString(System.Globalization.CultureInfo.InvariantCulture);
        // The flag as each store's driver reads it back: PostgreSQL boolean, SQLite integer.
        string yes = Stores.Kind == StoreKind.Postgres ? "True" : "1", no = Stores.Kind == StoreKind.Postgres ? "False" : "0";
        Assert.Equal(
            new[] { ["1", T(received), yes], ["2", T(received), yes], ["3", T(times[2]), no], ["4", T(times[3]), no], new string?[] { "5", T(received), yes } },
            rows);
        Assert.Equal(3, (await server.Store.GetAgentStatsAsync(CancellationToken.None)).Single().TimeAdjustedEvents);
    }

    [Fact]
    public async Task Send_NextBatchesAfterTheExplosion_StoredUnderTheirOwnTime()
    {
        var (store, spec) = await Stores.CreateAsync(EventTimeBounds.Default);
        await using var h = await CollectorHarness.StartAsync(store);
        long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await h.Client().SendAsync(Batch(now).Batch, Bearer(TokenA));

        var next = TestEvents.Batch(AgentA, 2, 50, firstSerial: 10_000, startUnixMs: now - 3_600_000);
        var ack = await h.Client().SendAsync(next, Bearer(TokenA));

        Assert.Equal(50u, ack.EventsStored);
        Assert.Equal(0, await StoreQuery.LongAsync(spec, "SELECT time_adjusted_events FROM batches WHERE sequence = 2"));
        var hour = await StoreSnapshot.EventsAsync(h.Store, new EventQuery(FromUnixMs: now - 3_600_000, ToUnixMs: now - 3_600_000 + 500));
        Assert.Equal(Enumerable.Range(0, 50).Select(i => (ulong)(10_000 + i)), hour.Select(e => e.Event.Serial));
        Assert.Equal(2_997, (await h.Store.GetAgentStatsAsync(CancellationToken.None)).Single().TimeAdjustedEvents);
    }
}

public sealed class SqlitePartitionExplosionTests() : PartitionExplosionTests(new SqliteStoreFactory());

[Collection(PostgresCollection.Name)]
public sealed class PostgresPartitionExplosionTests(PostgresFixture pg) : PartitionExplosionTests(new PostgresStoreFactory(pg.Cluster));
