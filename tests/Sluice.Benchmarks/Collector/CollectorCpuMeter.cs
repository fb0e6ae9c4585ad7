using System.Collections.Concurrent;
using System.Diagnostics;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Sluice.Benchmarks.Collector;

/// <summary>
/// CPU time of this process per event, the median over the invocations of a case. Wall time depends on what
/// else the VM runs; CPU time much less. It counts the collector's whole in-process work (gRPC
/// client and server, validation, SQLite); PostgreSQL's server processes are measured apart
/// (<see cref="DatabasePerEvent"/>).
/// </summary>
internal static class CollectorCpuMeter
{
    private static readonly ConcurrentDictionary<string, ConcurrentQueue<double>> PerInvocation = new();
    private static readonly ConcurrentDictionary<string, ConcurrentQueue<double>> DatabasePerInvocation = new();

    public static string Key(params (string Name, object Value)[] parameters) =>
        string.Join(",", parameters.OrderBy(p => p.Name, StringComparer.Ordinal).Select(p => $"{p.Name}={p.Value}"));

    /// <param name="databaseCpu">CPU time used so far by the database server's processes, if there is one.</param>
    public static async Task MeasureAsync(string key, long events, Func<Task> work, Func<TimeSpan>? databaseCpu = null)
    {
        var db = databaseCpu?.Invoke();
        var before = Process.GetCurrentProcess().TotalProcessorTime;
        await work();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime - before;
        PerInvocation.GetOrAdd(key, _ => new()).Enqueue(cpu.TotalMicroseconds / events);
        if (db is TimeSpan db0 && databaseCpu!() - db0 is var used && used > TimeSpan.Zero)
        {
            DatabasePerInvocation.GetOrAdd(key, _ => new()).Enqueue(used.TotalMicroseconds / events);
        }
    }

    /// <summary>The median over invocations (warm-up ones included) of CPU time per event.</summary>
    public static double? PerEvent(string key) => Median(PerInvocation, key);

    /// <summary>The same for the database server's processes (PostgreSQL).</summary>
    public static double? DatabasePerEvent(string key) => Median(DatabasePerInvocation, key);

    private static double? Median(ConcurrentDictionary<string, ConcurrentQueue<double>> all, string key)
    {
        if (!all.TryGetValue(key, out var values) || values.IsEmpty)
        {
            return null;
        }
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}

internal sealed class CpuPerEventColumn : IColumn
{
    public string Id => "CpuPerEvent";
    public string ColumnName => "CPU/event";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 1;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "CPU time of the benchmark process per event, in microseconds, median over invocations (PostgreSQL's own processes excluded)";
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
    {
        string key = CollectorCpuMeter.Key([.. benchmarkCase.Parameters.Items.Select(p => (p.Name, p.Value))]);
        return CollectorCpuMeter.PerEvent(key) is double us ? us.ToString("F2", System.Globalization.CultureInfo.InvariantCulture) + " us" : "-";
    }

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);
}

internal sealed class DatabaseCpuPerEventColumn : IColumn
{
    public string Id => "DatabaseCpuPerEvent";
    public string ColumnName => "DB CPU/event";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 2;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "CPU time of the PostgreSQL server's processes per event, in microseconds, median over invocations";
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
    {
        string key = CollectorCpuMeter.Key([.. benchmarkCase.Parameters.Items.Select(p => (p.Name, p.Value))]);
        return CollectorCpuMeter.DatabasePerEvent(key) is double us ? us.ToString("F2", System.Globalization.CultureInfo.InvariantCulture) + " us" : "-";
    }

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);
}
