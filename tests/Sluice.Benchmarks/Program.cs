using BenchmarkDotNet.Running;
using Sluice.Benchmarks.Delivery;

namespace Sluice.Benchmarks;

/// <summary>
/// Run: <c>dotnet run -c Release --project tests/Sluice.Benchmarks -- --filter '*'</c> (see README.md).
/// <c>agent-cpu</c> and <c>sink</c> are the two-process agent CPU measurement; <c>compare</c> is the
/// end-to-end comparison with auditd and laurel (<c>bare-reader</c> is its ceiling consumer).
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
        if (args.Length > 0 && args[0] == "interpret-names")
        {
            return Records.InterpretNamesMeasurement.Run(args);
        }
        if (args.Length > 0 && args[0] == "interpret-names-loop")
        {
            return Records.InterpretNamesMeasurement.Loop(args);
        }
        if (args.Length > 0 && args[0] == "compare")
        {
            return Harness.CompareCommand.Run(args);
        }
        if (args.Length > 0 && args[0] == "bare-reader")
        {
            return Harness.BareReader.Run(args);
        }
        if (args.Length > 0 && args[0] == "sink")
        {
            return AgentCpuMeasurement.Sink();
        }
        BenchmarkSwitcher.FromAssembly(typeof(BenchmarkProgram).Assembly).Run(args);
        return 0;
    }
}
