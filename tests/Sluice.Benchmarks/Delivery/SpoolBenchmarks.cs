using BenchmarkDotNet.Attributes;
using Sluice.Agent.Spool;
using Sluice.Protocol.V1;

namespace Sluice.Benchmarks.Delivery;

/// <summary>Agent CPU per event to put a batch in the spool (serialize, checksum, write), read it back (read, verify) and acknowledge it.</summary>
[MemoryDiagnoser]
public class SpoolBenchmarks
{
    private const int EventsPerBatch = 1000;
    private string _dir = "";
    private DiskSpool _spool = null!;
    private EventBatch _batch = null!;

    [Params("Never", "PerBatch")]
    public string Fsync { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        _dir = Directory.CreateTempSubdirectory("sluice-bench-spool-").FullName;
        _spool = DiskSpool.Open(new SpoolOptions { Directory = _dir, MaxBytes = 1024L * 1024 * 1024, SegmentBytes = 16 * 1024 * 1024, Fsync = Enum.Parse<FsyncMode>(Fsync), AckPersistInterval = TimeSpan.FromSeconds(1) });
        _batch = GetppidWorkload.Batch(EventsPerBatch, 1);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _spool.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>One batch of 1000 events through the spool; reported per event.</summary>
    [Benchmark(OperationsPerInvoke = EventsPerBatch)]
    public void AppendReadAcknowledge()
    {
        ulong sequence = _spool.Append(_batch);
        using var entry = _spool.TryRead()!;
        _spool.Acknowledge(sequence);
    }
}
