using System.Data.Common;
using System.Text.Json;
using Sluice.Collector.Cli;
using Sluice.Collector.Storage;
using Sluice.Collector.Storage.Retention;
using Sluice.Collector.Tests.Support;
using static Sluice.Collector.Tests.Retention.RetentionData;

namespace Sluice.Collector.Tests.Retention;

/// <summary><c>sluice-collector prune</c> on a month of data, run as the real program, on each store.</summary>
public abstract class PruneTests : PerStoreTests
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-prune-").FullName;

    private protected PruneTests(IStoreFactory stores) : base(stores)
    {
    }

    public override void Dispose()
    {
        Directory.Delete(_dir, recursive: true);
        base.Dispose();
    }

    private protected abstract DbConnection Connect(string spec);

    /// <summary>The events left in each UTC day before the cutoff (PostgreSQL: the day partitions left), and after it.</summary>
    private protected abstract Task<(long DaysBefore, long DaysAfter)> DaysLeftAsync(DbConnection c, long cutoff);

    private protected static async Task<long> ScalarAsync(DbConnection c, string sql)
    {
        await using var command = c.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private async Task<long> CountAsync(string spec, string sql)
    {
        await using var c = Connect(spec);
        await c.OpenAsync();
        return await ScalarAsync(c, sql);
    }

    private static async Task<(int Rc, string Output)> PruneProcessAsync(string spec, params string[] args)
    {
        using var process = CollectorProcess.Start(["prune", "--store", spec, .. args]);
        int rc = await process.ExitAsync();
        return (rc, process.Output);
    }

    /// <summary>Every file of every report format over [from, to) at a fixed "now", by name.</summary>
    private async Task<Dictionary<string, byte[]>> ReportsAsync(string spec, string name, long from, long to, long now)
    {
        var files = new Dictionary<string, byte[]>();
        foreach (var format in new[] { "json", "md", "html", "csv" })
        {
            string dir = Directory.CreateDirectory(Path.Combine(_dir, $"{name}-{format}")).FullName;
            var stderr = new StringWriter();
            int rc = await ReportCommand.RunAsync(spec, Iso(from), Iso(to), null, format, Path.Combine(dir, "report." + format),
                null, null, null, stderr, CancellationToken.None, new FixedTime(now));
            Assert.True(rc == 0, stderr.ToString());
            foreach (var f in Directory.GetFiles(dir))
            {
                files[format + "/" + Path.GetFileName(f)] = await File.ReadAllBytesAsync(f);
            }
        }
        return files;
    }

    private static async Task<JsonDocument> JsonReportAsync(string spec, string dir, long from, long to, long now)
    {
        string path = Path.Combine(Directory.CreateDirectory(dir).FullName, "report.json");
        var stderr = new StringWriter();
        int rc = await ReportCommand.RunAsync(spec, Iso(from), Iso(to), null, "json", path, null, null, null, stderr, CancellationToken.None, new FixedTime(now));
        Assert.True(rc == 0, stderr.ToString());
        return JsonDocument.Parse(await File.ReadAllBytesAsync(path));
    }

    [Fact]
    public async Task Prune_MonthOfData_DaysBeforeCutoffGone_RemainingReportsIdentical_PruneInNextReport_SecondPruneRemovesNothing()
    {
        long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        long today = Today(DateTimeOffset.FromUnixTimeMilliseconds(now));
        long cutoff = Cutoff(today);
        var (store, spec) = await Stores.CreateAsync();
        await using (store)
        {
            await FeedAsync(store, today);
        }
        string[] keptBefore, allBefore;
        await using (var open = await StoreLocation.Parse(spec).OpenAsync(mustExist: true, CancellationToken.None))
        {
            keptBefore = await StoreSnapshot.ExportLinesAsync(open, new EventQuery(FromUnixMs: cutoff));
            allBefore = await StoreSnapshot.ExportLinesAsync(open);
        }
        Assert.Equal(Agents.Length * Days * EventsPerBatch, allBefore.Length);
        Assert.InRange(keptBefore.Length, 1, allBefore.Length - 1);
        var reportsBefore = await ReportsAsync(spec, "before", cutoff, today, now);

        // A dry run lists the days and changes nothing.
        var (dryRc, dryOutput) = await PruneProcessAsync(spec, "--older-than", "30", "--allow-short-retention", "--dry-run");
        Assert.True(dryRc == 0, dryOutput);
        Assert.Contains($"dry run: would prune {StoreLocation.Parse(spec)}: events before {Iso(cutoff)} (older than 30 days)", dryOutput);
        Assert.Contains("would remove 10 ", dryOutput);
        Assert.Contains("nothing changed, nothing recorded", dryOutput);
        await using (var c = Connect(spec))
        {
            await c.OpenAsync();
            Assert.Equal(0, await ScalarAsync(c, "SELECT COUNT(*) FROM prunes"));
            Assert.Equal(allBefore.Length, await ScalarAsync(c, "SELECT COUNT(*) FROM events"));
            Assert.Equal((10L, 26L), await DaysLeftAsync(c, cutoff));
        }

        var (rc, output) = await PruneProcessAsync(spec, "--older-than", "30", "--allow-short-retention");

        Assert.True(rc == 0, output);
        Assert.Contains($"pruning {StoreLocation.Parse(spec)}: events before {Iso(cutoff)} (older than 30 days)", output);
        for (int d = 0; d < 10; d++)
        {
            Assert.Contains(DateTimeOffset.FromUnixTimeMilliseconds(Day0(today) + d * DayMs).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture), output);
        }
        // Batches 1 to 9 of each agent lie wholly before the cutoff; batch 10 spans it and stays, with all of its chunks.
        Assert.Contains($"removed 10 ", output);
        Assert.Contains($", {allBefore.Length - keptBefore.Length} events; {Agents.Length * 9} batches, {Agents.Length * 9 * 3} event chunks, ", output);
        await using (var c = Connect(spec))
        {
            await c.OpenAsync();
            Assert.Equal((0L, 26L), await DaysLeftAsync(c, cutoff));
            Assert.Equal(0, await ScalarAsync(c, $"SELECT COUNT(*) FROM events WHERE time_ms < {cutoff}"));
            Assert.Equal(keptBefore.Length, await ScalarAsync(c, "SELECT COUNT(*) FROM events"));
            Assert.Equal(Agents.Length * (Days - 9), await ScalarAsync(c, "SELECT COUNT(*) FROM batches"));
            Assert.Equal(Agents.Length * 3, await ScalarAsync(c, "SELECT COUNT(*) FROM event_chunks WHERE batch_id IN (SELECT id FROM batches WHERE sequence = 10)"));
            Assert.Equal(Agents.Length * (Days - 9) * 3, await ScalarAsync(c, "SELECT COUNT(*) FROM event_chunks"));
            Assert.Equal(0, await ScalarAsync(c, $"SELECT COUNT(*) FROM heartbeats WHERE time_ms < {cutoff}"));
            Assert.Equal(Agents.Length * (Days - 10) * 4, await ScalarAsync(c, "SELECT COUNT(*) FROM heartbeats"));
            Assert.Equal(1, await ScalarAsync(c, $"SELECT COUNT(*) FROM prunes WHERE cutoff_ms = {cutoff} AND older_than_days = 30 AND days = 10 AND events = {allBefore.Length - keptBefore.Length}"));
        }
        // Every kept event reads back exact, those of the batch across the cutoff included.
        await using (var open = await StoreLocation.Parse(spec).OpenAsync(mustExist: true, CancellationToken.None))
        {
            Assert.Equal(keptBefore, await StoreSnapshot.ExportLinesAsync(open));
        }
        // The remaining range reads the same, byte for byte, in every format.
        var reportsAfter = await ReportsAsync(spec, "after", cutoff, today, now);
        Assert.Equal(reportsBefore.Keys.Order(), reportsAfter.Keys.Order());
        foreach (var file in reportsBefore.Keys)
        {
            Assert.True(reportsBefore[file].AsSpan().SequenceEqual(reportsAfter[file]), $"{file} changed");
        }

        // The next report covering the prune's time shows it in the audit-system changes.
        long later = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 3_600_000;
        using (var next = await JsonReportAsync(spec, Path.Combine(_dir, "next"), cutoff, later, later))
        {
            var changes = next.RootElement.GetProperty("audit_changes").GetProperty("changes").EnumerateArray()
                .Where(x => x.GetProperty("category").GetString() == "retention").ToList();
            var prune = Assert.Single(changes);
            Assert.Equal(("*", "prune", "success"), (prune.GetProperty("agent_id").GetString(), prune.GetProperty("type").GetString(), prune.GetProperty("result").GetString()));
            Assert.Contains($"events before {Iso(cutoff)} deleted (older than 30 days)", prune.GetProperty("detail").GetString());
            Assert.Equal(JsonValueKind.Null, next.RootElement.GetProperty("pruned_before").ValueKind);
        }
        // A range that starts before the retained range says so, and calls no host complete.
        using (var early = await JsonReportAsync(spec, Path.Combine(_dir, "early"), Day0(today), today, now))
        {
            Assert.Equal(Iso(cutoff), early.RootElement.GetProperty("pruned_before").GetString());
            foreach (var host in early.RootElement.GetProperty("coverage").EnumerateArray())
            {
                Assert.False(host.GetProperty("complete").GetBoolean());
                Assert.Contains("pruned: events before", host.GetProperty("verdict").GetString());
            }
        }
        var md = new StringWriter();
        Assert.Equal(0, await ReportCommand.RunAsync(spec, Iso(Day0(today)), Iso(today), null, "md", Path.Combine(_dir, "early.md"), null, null, null, md, CancellationToken.None));
        Assert.Contains("Retention: the range starts before the retained range", await File.ReadAllTextAsync(Path.Combine(_dir, "early.md")));

        // stats: the retained range and the last prune; the deleted batches are no delivery gap.
        var stdout = new StringWriter();
        Assert.Equal(0, await StatsCommand.RunAsync(spec, json: true, stdout, new StringWriter(), CancellationToken.None));
        using (var stats = JsonDocument.Parse(stdout.ToString()))
        {
            var retained = stats.RootElement.GetProperty("retained");
            Assert.InRange(retained.GetProperty("oldest_event_unix_ms").GetInt64(), cutoff, cutoff + StepMs);
            Assert.Equal(cutoff, retained.GetProperty("last_prune").GetProperty("cutoff_unix_ms").GetInt64());
            Assert.All(stats.RootElement.GetProperty("agents").EnumerateArray(), a => Assert.Equal(0, a.GetProperty("delivery_gaps").GetInt64()));
        }
        var text = new StringWriter();
        Assert.Equal(0, await StatsCommand.RunAsync(spec, json: false, text, new StringWriter(), CancellationToken.None));
        Assert.Contains($"last prune", text.ToString());

        // Again: nothing left to remove, and that prune is recorded too.
        var (againRc, againOutput) = await PruneProcessAsync(spec, "--older-than", "30", "--allow-short-retention");
        Assert.True(againRc == 0, againOutput);
        Assert.Contains("removed 0 ", againOutput);
        Assert.Contains(", 0 events; 0 batches, 0 event chunks, 0 heartbeats, 0 refusals", againOutput);
        await using (var c = Connect(spec))
        {
            await c.OpenAsync();
            Assert.Equal(2, await ScalarAsync(c, "SELECT COUNT(*) FROM prunes"));
            Assert.Equal(keptBefore.Length, await ScalarAsync(c, "SELECT COUNT(*) FROM events"));
        }
    }

    [Theory]
    [InlineData("300", false, "--older-than 300: less than 365 days keeps less than the 12 months of audit history PCI DSS 10.5.1 requires; give --allow-short-retention")]
    [InlineData("0", true, "--older-than '0': expected a positive whole number of days")]
    [InlineData("-3", true, "--older-than '-3': expected a positive whole number of days")]
    [InlineData("1.5", true, "--older-than '1.5': expected a positive whole number of days")]
    [InlineData("ten", false, "--older-than 'ten': expected a positive whole number of days")]
    public async Task Prune_BadOlderThan_ExitTwoNamingIt_NothingChanged(string days, bool allowShort, string message)
    {
        var (store, spec) = await Stores.CreateAsync();
        await using (store)
        {
            await store.StoreBatchAsync(TestEvents.Batch("a", 1, 5, startUnixMs: TestEvents.BaseUnixMs - 800 * DayMs), 1, CancellationToken.None);
        }
        var stderr = new StringWriter();

        int rc = await PruneCommand.RunAsync(spec, days, dryRun: false, allowShort, new StringWriter(), stderr, CancellationToken.None);

        Assert.Equal(2, rc);
        Assert.Contains(message, stderr.ToString());
        await using var c = Connect(spec);
        await c.OpenAsync();
        Assert.Equal(5, await ScalarAsync(c, "SELECT COUNT(*) FROM events"));
        Assert.Equal(0, await ScalarAsync(c, "SELECT COUNT(*) FROM prunes"));
    }

    [Fact]
    /// <summary>
    /// Writers into today (kept) and, now and then, into a day being pruned, while the prune runs with small
    /// transactions: on PostgreSQL the partitions go under the writers, on SQLite the prune and the writer take turns.
    /// </summary>
    public async Task Prune_WhileCollectorIngests_IngestNeverFails_KeptEventsAllThere()
    {
        long today = Today(DateTimeOffset.UtcNow);
        long cutoff = Cutoff(today);
        var (store, spec) = await Stores.CreateAsync();
        await using var ingest = store;
        await FeedAsync(ingest, today);
        long keptBefore = await CountAsync(spec, $"SELECT COUNT(*) FROM events WHERE time_ms >= {cutoff}");

        // Writers into today (kept) and, now and then, into a day being pruned (its partition goes under them).
        using var stop = new CancellationTokenSource();
        long keptStored = 0, oldStored = 0;
        var writers = Enumerable.Range(0, 3).Select(w => Task.Run(async () =>
        {
            for (ulong s = 1; !stop.IsCancellationRequested; s++)
            {
                bool old = s % 5 == 0;
                long start = old ? Day0(today) + (long)(s % 9) * DayMs + 3_600_000 : today + (long)s * 1000;
                var batch = TestEvents.Batch($"live-{w}", s, 50, firstSerial: (long)s * 100, startUnixMs: start, stepMs: 1);
                var outcome = await ingest.StoreBatchAsync(batch, start + 1000, CancellationToken.None);
                Assert.Equal(50, outcome.EventsStored);
                Interlocked.Add(ref old ? ref oldStored : ref keptStored, 50);
            }
        })).ToList();
        await Task.Delay(300);

        PruneResult result;
        await using (var pruner = await StoreLocation.Parse(spec).OpenAsync(mustExist: true, CancellationToken.None))
        {
            result = await ((IRetentionStore)pruner).PruneAsync(new PruneRequest(PruneDays, cutoff, DryRun: false) { MaxRowsPerTransaction = 50 }, _ => { }, CancellationToken.None);
        }
        await Task.Delay(300);
        stop.Cancel();
        await Task.WhenAll(writers);

        Assert.Equal(0, result.DaysSkipped);
        Assert.InRange(result.DaysRemoved, 10, 20);
        Assert.True(keptStored > 0 && oldStored > 0, $"kept {keptStored}, old {oldStored}");
        Assert.Equal(keptBefore + keptStored, await CountAsync(spec, $"SELECT COUNT(*) FROM events WHERE time_ms >= {cutoff}"));
        // Every kept event can still be read whole: its batch row and chunk are there.
        Assert.Equal(keptBefore + keptStored, (await StoreSnapshot.EventsAsync(ingest, new EventQuery(FromUnixMs: cutoff))).Count);
    }

    [Fact]
    public async Task Prune_OnVersionSevenStore_UpgradesItFirstAndSaysSo()
    {
        var (store, spec) = await Stores.CreateAsync();
        await using (store)
        {
            await store.StoreBatchAsync(TestEvents.Batch("a", 1, 5), 1, CancellationToken.None);
        }
        await using (var c = Connect(spec))
        {
            await c.OpenAsync();
            await ScalarAsync(c, Storage.EventStoreTests.SchemaSevenSql + " UPDATE schema_info SET version = 7; SELECT 0");
        }

        var (rc, output) = await PruneProcessAsync(spec, "--dry-run");

        Assert.True(rc == 0, output);
        Assert.Contains($"sluice-collector: upgraded store from schema 7 to {StoreSchema.Version}: {StoreLocation.Parse(spec)}", output);
        await using (var c = Connect(spec))
        {
            await c.OpenAsync();
            Assert.Equal(StoreSchema.Version, await ScalarAsync(c, "SELECT version FROM schema_info"));
            Assert.Equal(5, await ScalarAsync(c, "SELECT COUNT(*) FROM events"));
        }
    }

    [Fact]
    public async Task Prune_Default_KeepsFourHundredDays_StoreFromEnvironment()
    {
        long today = Today(DateTimeOffset.UtcNow);
        var (store, spec) = await Stores.CreateAsync();
        await using (store)
        {
            await store.StoreBatchAsync(TestEvents.Batch("a", 1, 5, startUnixMs: today - 401 * DayMs), 1, CancellationToken.None);
            await store.StoreBatchAsync(TestEvents.Batch("a", 2, 7, firstSerial: 100, startUnixMs: today - 399 * DayMs), 2, CancellationToken.None);
        }
        using var process = CollectorProcess.Start(["prune"], new Dictionary<string, string> { [ServeCommand.StoreVariable] = spec });

        int rc = await process.ExitAsync();

        Assert.True(rc == 0, process.Output);
        Assert.Contains($"events before {Iso(today - 400 * DayMs)} (older than 400 days)", process.Output);
        await using var c = Connect(spec);
        await c.OpenAsync();
        Assert.Equal(7, await ScalarAsync(c, "SELECT COUNT(*) FROM events"));
        Assert.Equal(1, await ScalarAsync(c, "SELECT COUNT(*) FROM batches"));
    }
}

public sealed class SqlitePruneTests() : PruneTests(new SqliteStoreFactory())
{
    private protected override DbConnection Connect(string spec) => new Microsoft.Data.Sqlite.SqliteConnection("Data Source=" + spec["sqlite:".Length..]);

    private protected override async Task<(long DaysBefore, long DaysAfter)> DaysLeftAsync(DbConnection c, long cutoff) => (
        await ScalarAsync(c, $"SELECT COUNT(DISTINCT time_ms / {DayMs}) FROM events WHERE time_ms < {cutoff}"),
        await ScalarAsync(c, $"SELECT COUNT(DISTINCT time_ms / {DayMs}) FROM events WHERE time_ms >= {cutoff}"));
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresPruneTests(PostgresFixture pg) : PruneTests(new PostgresStoreFactory(pg.Cluster))
{
    private protected override DbConnection Connect(string spec) => new Npgsql.NpgsqlConnection(spec["postgres:".Length..]);

    /// <summary>Day partitions of events before and from the cutoff (pg_inherits), and no table of a pruned day left anywhere (pg_class).</summary>
    private protected override async Task<(long DaysBefore, long DaysAfter)> DaysLeftAsync(DbConnection c, long cutoff)
    {
        string first = Sluice.Collector.Storage.Postgres.PostgresSchema.PartitionName(Sluice.Collector.Storage.Postgres.PostgresSchema.Day(cutoff));
        string partitions = "FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent JOIN pg_class k ON k.oid = i.inhrelid WHERE p.relname = 'events'";
        long before = await ScalarAsync(c, $"SELECT COUNT(*) {partitions} AND k.relname < '{first}'");
        long after = await ScalarAsync(c, $"SELECT COUNT(*) {partitions} AND k.relname >= '{first}'");
        long tables = await ScalarAsync(c, $"SELECT COUNT(*) FROM pg_class WHERE relkind = 'r' AND relname LIKE '%events_p%' AND relname NOT LIKE 'events_p%'");
        long orphans = await ScalarAsync(c, $"SELECT COUNT(*) FROM pg_class WHERE relkind = 'r' AND relname LIKE 'events_p%' AND relname < '{first}'");
        Assert.Equal((0L, before), (tables, orphans));
        return (before, after);
    }
}
