using BenchmarkDotNet.Attributes;
using Sluice.Collector.Storage;
using Sluice.Protocol.V1;

namespace Sluice.Benchmarks.Collector;

/// <summary>The store alone: batches of 1000 events, several callers at once (as several gRPC calls would be).</summary>
[Config(typeof(CollectorBenchConfig))]
public class CollectorStoreIngestBenchmarks
{
    private const int BatchCount = 50;
    private const int EventsPerBatch = 1000;
    private readonly CollectorStores _stores = new();
    private IEventStore _store = null!;
    private EventBatch[] _batches = null!;
    private readonly CollectorRounds _rounds = new("bench-store", BatchCount, EventsPerBatch);
    private ulong _sequence;

    [Params("sqlite", "postgres")]
    public string Store { get; set; } = "sqlite";

    [Params(1, 4)]
    public int InFlight { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _store = _stores.OpenAsync(Store).GetAwaiter().GetResult();
    }

    /// <summary>Every iteration sends new events, later than the last iteration's (<see cref="CollectorRounds"/>).</summary>
    [IterationSetup]
    public void NextRound() => _batches = _rounds.Next();

    [Benchmark(OperationsPerInvoke = BatchCount * EventsPerBatch)]
    public Task StoreBatches() =>
        CollectorCpuMeter.MeasureAsync(CollectorCpuMeter.Key((nameof(Store), Store), (nameof(InFlight), InFlight)), BatchCount * EventsPerBatch, StoreAllAsync, _stores.DatabaseCpuTime);

    private async Task StoreAllAsync()
    {
        int next = -1;
        var workers = Enumerable.Range(0, InFlight).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < _batches.Length)
            {
                var batch = _batches[i];
                batch.Sequence = Interlocked.Increment(ref _sequence);
                var outcome = await _store.StoreBatchAsync(batch, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), CancellationToken.None);
                if (outcome.Duplicate || outcome.EventsStored != EventsPerBatch)
                {
                    throw new InvalidOperationException($"batch {batch.Sequence} was not stored: {outcome}");
                }
            }
        });
        await Task.WhenAll(workers);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _store.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _stores.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }
}
