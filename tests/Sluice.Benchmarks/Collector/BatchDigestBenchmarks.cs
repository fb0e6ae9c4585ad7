using BenchmarkDotNet.Attributes;
using Sluice.Collector.Storage;
using Sluice.Protocol.V1;

namespace Sluice.Benchmarks.Collector;

/// <summary>
/// What the batch digest adds to ingest: one batch of 1000 benchmark events (<see cref="CollectorWorkload"/>)
/// serialised and compressed into chunks, without and with the digest hashed on the way, and the digest computed
/// alone (as for a refused batch). One operation is one event.
/// </summary>
[MemoryDiagnoser]
public class BatchDigestBenchmarks
{
    private const int Events = 1000;
    private EventBatch _batch = null!;

    [GlobalSetup]
    public void Setup() => _batch = CollectorWorkload.Batch("bench-digest", 0, Events, CollectorWorkload.StartUnixMs());

    [Benchmark(Baseline = true, OperationsPerInvoke = Events)]
    public int ChunksOnly()
    {
        using var chunks = EncodedChunks.From(_batch.Events);
        return chunks.Count;
    }

    [Benchmark(OperationsPerInvoke = Events)]
    public string ChunksWithDigest()
    {
        var digest = new BatchDigest(_batch);
        using var chunks = EncodedChunks.From(_batch.Events, digest);
        return digest.Finish();
    }

    [Benchmark(OperationsPerInvoke = Events)]
    public string DigestAlone() => BatchDigest.Of(_batch);
}
