using BenchmarkDotNet.Running;

namespace Sluice.Benchmarks;

/// <summary>Run: <c>dotnet run -c Release --project tests/Sluice.Benchmarks -- --filter '*'</c> (see README.md).</summary>
public static class BenchmarkProgram
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(BenchmarkProgram).Assembly).Run(args);
}
