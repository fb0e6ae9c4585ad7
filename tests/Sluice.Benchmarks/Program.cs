using BenchmarkDotNet.Running;

namespace Sluice.Benchmarks;

public static class BenchmarkProgram
{
    // Run all: dotnet run -c Release --project tests/Sluice.Benchmarks -- --filter '*'
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(BenchmarkProgram).Assembly).Run(args);
}
