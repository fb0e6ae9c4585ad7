using BenchmarkDotNet.Running;
using Sluice.Benchmarks.Delivery;

namespace Sluice.Benchmarks;

/// <summary>
/// Run: <c>dotnet run -c Release --project tests/Sluice.Benchmarks -- --filter '*'</c> (see README.md).
/// <c>agent-cpu</c> and <c>sink</c> are the two-process agent CPU measurement.
/// </summary>
public static class BenchmarkProgram
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "agent-cpu")
        {
            return AgentCpuMeasurement.Run(args);
        }
        if (args.Length > 0 && args[0] == "receive")
        {
            return Receive.ReceiveMeasurement.Run(args);
        }
        if (args.Length > 0 && args[0] == "report-dataset")
        {
            return Reports.ReportDatasetGenerator.RunAsync(args).GetAwaiter().GetResult();
        }
        if (args.Length > 0 && args[0] == "report-bench")
        {
            return Reports.ReportBenchmark.RunAsync(args).GetAwaiter().GetResult();
        }
        if (args.Length > 0 && args[0] == "sink")
        {
            return AgentCpuMeasurement.Sink();
        }
        BenchmarkSwitcher.FromAssembly(typeof(BenchmarkProgram).Assembly).Run(args);
        return 0;
    }
}
