using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace Sluice.Benchmarks.Collector;

/// <summary>
/// Ingest benchmarks store tens of thousands of events per invocation: one invocation per iteration, no pilot.
/// They run in process: their cost is I/O and the database's, and a separate build per run only adds minutes on a busy VM.
/// </summary>
internal sealed class CollectorBenchConfig : ManualConfig
{
    public CollectorBenchConfig()
    {
        AddJob(Job.Default
            .WithStrategy(RunStrategy.Monitoring)
            .WithLaunchCount(1)
            .WithWarmupCount(2)
            .WithIterationCount(8)
            .WithToolchain(InProcessEmitToolchain.Instance));
        AddColumn(StatisticColumn.Median, new EventsPerSecondColumn(), new CpuPerEventColumn(), new DatabaseCpuPerEventColumn());
    }
}

/// <summary>1 / (median time per operation): each operation is one event.</summary>
internal sealed class EventsPerSecondColumn : IColumn
{
    public string Id => "EventsPerSecond";
    public string ColumnName => "Events/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "Events stored per second (1 s / Median, one operation = one event)";
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
    {
        var stats = summary[benchmarkCase]?.ResultStatistics;
        return stats is null || stats.Median <= 0 ? "-" : (1e9 / stats.Median).ToString("N0", System.Globalization.CultureInfo.InvariantCulture);
    }

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);
}
