using BenchmarkDotNet.Running;

// dotnet run -c Release --project tests/Sluice.Benchmarks -- --filter '*'   (see README.md)
BenchmarkSwitcher.FromAssembly(typeof(Sluice.Benchmarks.Records.Corpus).Assembly).Run(args);
