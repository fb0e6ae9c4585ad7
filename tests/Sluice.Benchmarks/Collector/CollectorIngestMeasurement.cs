using System.Diagnostics;
using System.Globalization;
using Sluice.Collector.Storage;

namespace Sluice.Benchmarks.Collector;

/// <summary>
/// <c>collector-ingest STORE IN_FLIGHT ROUNDS</c>: the store-alone ingest of
/// <see cref="CollectorStoreIngestBenchmarks"/> without BenchmarkDotNet, for profiling under
/// <c>perf</c> and for quick before/after checks. Each round stores 50 batches of 1000 events into
/// the same store; prints the median events/s, the median CPU time of this process per event and,
/// for PostgreSQL, that of the database server's processes.
/// </summary>
internal static class CollectorIngestMeasurement
{
    private const int BatchCount = 50;
    private const int EventsPerBatch = 1000;

    public static int Run(string[] args)
    {
        string kind = args.Length > 1 ? args[1] : "sqlite";
        int inFlight = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 1;
        int rounds = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 10;
        if (args.Length > 4 && args[4] == "grpc")
        {
            return CollectorGrpcMeasurement.RunAsync(kind, inFlight, rounds).GetAwaiter().GetResult();
        }
        return RunAsync(kind, inFlight, rounds).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(string kind, int inFlight, int rounds)
    {
        await using var stores = new CollectorStores();
        var store = await stores.OpenAsync(kind);
        var workload = new CollectorRounds("measure", BatchCount, EventsPerBatch);
        ulong sequence = 0;
        var rates = new List<double>();
        var cpus = new List<double>();
        var dbCpus = new List<double>();
        for (int round = -2; round < rounds; round++)
        {
            var batches = workload.Next();
            var process = Process.GetCurrentProcess();
            var cpu0 = process.TotalProcessorTime;
            var db0 = stores.DatabaseCpuTime();
            var watch = Stopwatch.StartNew();
            int next = -1;
            await Task.WhenAll(Enumerable.Range(0, inFlight).Select(async _ =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < batches.Length)
                {
                    var batch = batches[i];
                    batch.Sequence = Interlocked.Increment(ref sequence);
                    var outcome = await store.StoreBatchAsync(batch, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), CancellationToken.None);
                    if (outcome.Duplicate || outcome.EventsStored != EventsPerBatch)
                    {
                        throw new InvalidOperationException($"batch {batch.Sequence} was not stored: {outcome}");
                    }
                }
            }));
            watch.Stop();
            process.Refresh();
            var cpu = process.TotalProcessorTime - cpu0;
            var db = stores.DatabaseCpuTime() - db0;
            if (round >= 0)
            {
                rates.Add(BatchCount * EventsPerBatch / watch.Elapsed.TotalSeconds);
                cpus.Add(cpu.TotalMicroseconds / (BatchCount * EventsPerBatch));
                dbCpus.Add(db.TotalMicroseconds / (BatchCount * EventsPerBatch));
            }
        }
        await store.DisposeAsync();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{kind} in-flight={inFlight} rounds={rounds}: median {Median(rates):N0} events/s, median CPU/event {Median(cpus):F2} us (min {cpus.Min():F2}, max {cpus.Max():F2}), database server CPU/event {Median(dbCpus):F2} us"));
        return 0;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }
}
