using System.Collections.Concurrent;
using System.Diagnostics;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Sluice.Benchmarks.Collector;

/// <summary>
/// CPU time of this process per event, over all invocations of a case. Wall time depends on what
/// else the VM runs; CPU time much less. It counts the collector's whole in-process work (gRPC
/// client and server, validation, SQLite); PostgreSQL's server processes are not in it.
/// </summary>
internal static class CollectorCpuMeter
{
    private static readonly ConcurrentDictionary<string, (double CpuUs, long Events)> Totals = new();

    public static string Key(params (string Name, object Value)[] parameters) =>
        string.Join(",", parameters.OrderBy(p => p.Name, StringComparer.Ordinal).Select(p => $"{p.Name}={p.Value}"));

    public static async Task MeasureAsync(string key, long events, Func<Task> work)
    {
        var before = Process.GetCurrentProcess().TotalProcessorTime;
        await work();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime - before;
        Totals.AddOrUpdate(key, (cpu.TotalMicroseconds, events), (_, t) => (t.CpuUs + cpu.TotalMicroseconds, t.Events + events));
    }

    public static double? PerEvent(string key) => Totals.TryGetValue(key, out var t) && t.Events > 0 ? t.CpuUs / t.Events : null;
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
    public string Legend => "CPU time of the benchmark process per event, in microseconds (PostgreSQL's own processes excluded)";
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
    {
        string key = CollectorCpuMeter.Key([.. benchmarkCase.Parameters.Items.Select(p => (p.Name, p.Value))]);
        return CollectorCpuMeter.PerEvent(key) is double us ? us.ToString("F2", System.Globalization.CultureInfo.InvariantCulture) + " us" : "-";
    }

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);
}
