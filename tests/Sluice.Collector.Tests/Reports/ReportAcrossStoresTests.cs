using Sluice.Collector.Cli;
using Sluice.Collector.Reports;
using Sluice.Collector.Tests.Support;
using static Sluice.Collector.Tests.Reports.ReportDataset;

namespace Sluice.Collector.Tests.Reports;

/// <summary>The same batches into SQLite and PostgreSQL give the same report, byte for byte, in every format.</summary>
[Collection(PostgresCollection.Name)]
public sealed class ReportAcrossStoresTests(PostgresFixture pg) : IDisposable
{
    private readonly SqliteStoreFactory _sqlite = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-report-").FullName;

    public void Dispose()
    {
        _sqlite.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Report_SameBatchesInBothStores_JsonMdHtmlAndCsvIdentical()
    {
        var (sqlite, sqliteSpec) = await _sqlite.CreateAsync();
        var (postgres, postgresSpec) = await new PostgresStoreFactory(pg.Cluster).CreateAsync();
        await using (sqlite)
        await using (postgres)
        {
            await FeedAsync(sqlite);
            await FeedAsync(postgres);
        }
        string baseline = Path.Combine(_dir, "baseline.rules");
        await File.WriteAllTextAsync(baseline, BaselineText);

        foreach (var format in new[] { "json", "md", "html", "csv" })
        {
            var outputs = new List<Dictionary<string, byte[]>>();
            foreach (var (name, spec) in new[] { ("sqlite", sqliteSpec), ("postgres", postgresSpec) })
            {
                string dir = Directory.CreateDirectory(Path.Combine(_dir, name + "-" + format)).FullName;
                var stderr = new StringWriter();
                int rc = await ReportCommand.RunAsync(spec, "2025-11-25T00:00:00Z", "1764036000", null, format, Path.Combine(dir, "report." + format),
                    baseline, null, null, stderr, CancellationToken.None, new FixedTime(End + 5 * Minute));
                Assert.True(rc == 0, stderr.ToString());
                outputs.Add(Directory.GetFiles(dir).ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes));
            }
            Assert.Equal(outputs[0].Keys.Order(), outputs[1].Keys.Order());
            foreach (var file in outputs[0].Keys)
            {
                Assert.True(outputs[0][file].AsSpan().SequenceEqual(outputs[1][file]), $"{format}: {file} differs between SQLite and PostgreSQL");
            }
        }
    }

    [Fact]
    public async Task Builder_SameBatchesInBothStores_JsonIdenticalIncludingGenerationTime()
    {
        var (sqlite, _) = await _sqlite.CreateAsync();
        var (postgres, _) = await new PostgresStoreFactory(pg.Cluster).CreateAsync();
        await using var s = sqlite;
        await using var p = postgres;
        await FeedAsync(sqlite);
        await FeedAsync(postgres);
        var time = new FixedTime(End + 5 * Minute);
        var request = new ReportRequest(T0, End, null, null) { MaxRows = 3 };

        string fromSqlite = ReportJson.Serialize(await new ReportBuilder(sqlite, time).BuildAsync(request, CancellationToken.None));
        string fromPostgres = ReportJson.Serialize(await new ReportBuilder(postgres, time).BuildAsync(request, CancellationToken.None));

        Assert.Equal(fromSqlite, fromPostgres);
        Assert.Contains("\"verdict\": \"continuous, complete\"", fromSqlite);
    }
}
