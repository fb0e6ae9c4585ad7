using BenchmarkDotNet.Running;
using Sluice.Benchmarks.Delivery;

namespace Sluice.Benchmarks;

/// <summary>
/// Run: <c>dotnet run -c Release --project tests/Sluice.Benchmarks -- --filter '*'</c> (see README.md).
/// The first argument may instead name one of the stand-alone measurements below; anything else goes
/// to BenchmarkDotNet.
/// </summary>
public static class BenchmarkProgram
{
    private static readonly Dictionary<string, Func<string[], int>> Modes = new(StringComparer.Ordinal)
    {
        // Two-process agent CPU measurement: the agent side, and the collector stand-in it ships to.
        ["agent-cpu"] = AgentCpuMeasurement.Run,
        ["sink"] = _ => AgentCpuMeasurement.Sink(),
        ["receive"] = Receive.ReceiveMeasurement.Run,
        ["interpret-names"] = Records.InterpretNamesMeasurement.Run,
        ["interpret-names-loop"] = Records.InterpretNamesMeasurement.Loop,
        // End-to-end comparison with auditd and laurel; the bare reader is its ceiling consumer.
        ["compare"] = Harness.CompareCommand.Run,
        ["bare-reader"] = Harness.BareReader.Run,
        // compare's per-stage breakdown: a record capture replayed through the agent's classes, level by level.
        ["stages"] = Stages.StageMeasurement.Run,
        ["collector-ingest"] = Collector.CollectorIngestMeasurement.Run,
        // Aggregate ingest through 1, 2, 3 collector processes on one PostgreSQL: per-tier CPU, failures, exactly once.
        ["collector-scale"] = Collector.CollectorScaleMeasurement.Run,
        // Peak RSS of the real collector under calls that inflate without (or with a bad) token.
        ["collector-preauth"] = Collector.PreAuthMemoryMeasurement.Run,
        // Thousands of simulated agents (own token, epoch, connection; heartbeats, small batches) against one collector.
        ["fleet"] = Fleet.FleetMeasurement.Run,
        ["delivery-facts"] = Collector.DeliveryFactsMeasurement.Run,
        // Compliance reports over a synthetic fleet: build the dataset, then time the report.
        ["report-dataset"] = a => Reports.ReportDatasetGenerator.RunAsync(a).GetAwaiter().GetResult(),
        ["report-bench"] = a => Reports.ReportBenchmark.RunAsync(a).GetAwaiter().GetResult(),
    };

    public static int Main(string[] args)
    {
        if (args.Length > 0 && Modes.TryGetValue(args[0], out var mode))
        {
            return mode(args);
        }
        BenchmarkSwitcher.FromAssembly(typeof(BenchmarkProgram).Assembly).Run(args);
        return 0;
    }
}
