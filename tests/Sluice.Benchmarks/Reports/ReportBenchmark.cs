using System.Diagnostics;
using System.Globalization;
using Sluice.Collector.Cli;
using Sluice.Collector.Storage;
using Sluice.Collector.Storage.Postgres;
using Sluice.Collector.Storage.Sqlite;
using Sluice.Collector.Tests.Support;

namespace Sluice.Benchmarks.Reports;

/// <summary>
/// <c>report-bench --kind sqlite|postgres [generator options]</c>: generates the synthetic fleet into a
/// fresh store (a temporary SQLite file, or a throwaway PostgreSQL cluster), then runs
/// <c>sluice-collector report</c> over the whole range three times in each format asked for, and
/// prints wall time and this process's CPU time for each run and their medians.
/// </summary>
internal static class ReportBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        string kind = "sqlite";
        var formats = new List<string>();
        var rest = new List<string> { "report-dataset" };
        for (int i = 1; i < args.Length; i++)
        {
            if (args[i] == "--kind" && i + 1 < args.Length) kind = args[++i];
            else if (args[i] == "--format" && i + 1 < args.Length) formats.Add(args[++i]);
            else rest.Add(args[i]);
        }
        if (formats.Count == 0) formats.Add("json");
        PostgresCluster? cluster = null;
        string dir = Directory.CreateTempSubdirectory("sluice-report-bench-").FullName;
        try
        {
            string spec;
            if (kind == "postgres")
            {
                cluster = await PostgresCluster.StartAsync();
                spec = "postgres:" + await cluster.CreateDatabaseAsync();
            }
            else
            {
                spec = "sqlite:" + Path.Combine(dir, "fleet.db");
            }
            rest.AddRange(["--store", spec]);
            int rc = await ReportDatasetGenerator.RunAsync([.. rest]);
            if (rc != 0)
            {
                return rc;
            }
            var o = ReportDatasetGenerator.Parse([.. rest]);
            string from = DateTimeOffset.FromUnixTimeMilliseconds(o.StartUnixMs).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
            string to = DateTimeOffset.FromUnixTimeMilliseconds(o.StartUnixMs + o.Days * 86_400_000L).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
            string baseline = Path.Combine(AppContext.BaseDirectory, "config", "audit.rules");
            foreach (string format in formats)
            {
                var walls = new List<double>();
                var cpus = new List<double>();
                for (int run = 0; run < 3; run++)
                {
                    var process = Process.GetCurrentProcess();
                    var cpu0 = process.TotalProcessorTime;
                    var sw = Stopwatch.StartNew();
                    var stderr = new StringWriter();
                    int code = await ReportCommand.RunAsync(spec, from, to, null, format, Path.Combine(dir, "report." + format),
                        File.Exists(baseline) ? baseline : null, null, null, stderr, CancellationToken.None);
                    sw.Stop();
                    process.Refresh();
                    double cpu = (process.TotalProcessorTime - cpu0).TotalSeconds;
                    if (code != 0)
                    {
                        Console.Error.Write(stderr);
                        return code;
                    }
                    walls.Add(sw.Elapsed.TotalSeconds);
                    cpus.Add(cpu);
                    Console.WriteLine(FormattableString.Invariant($"report {kind} {format} run {run + 1}: {sw.Elapsed.TotalSeconds:F2} s wall, {cpu:F2} s CPU (collector process); {stderr.ToString().Trim()}"));
                }
                Console.WriteLine(FormattableString.Invariant($"report {kind} {format} median: {Median(walls):F2} s wall, {Median(cpus):F2} s CPU"));
            }
            return 0;
        }
        finally
        {
            if (cluster is not null)
            {
                await cluster.DisposeAsync();
            }
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }

    private static double Median(List<double> v)
    {
        v.Sort();
        return v[v.Count / 2];
    }
}
