using System.IO.Compression;
using BenchmarkDotNet.Attributes;
using Google.Protobuf;
using ZstdSharp;

namespace Sluice.Benchmarks.Delivery;

/// <summary>CPU per event and size of a serialized 1000-event batch under each candidate compression (gRPC compresses the whole message).</summary>
[MemoryDiagnoser]
public class CompressionBenchmarks
{
    private const int EventsPerBatch = 1000;
    private byte[] _payload = [];
    private readonly MemoryStream _output = new(1 << 20);
    private Compressor _zstd1 = null!;
    private Compressor _zstd3 = null!;

    [GlobalSetup]
    public void Setup()
    {
        _payload = GetppidWorkload.Batch(EventsPerBatch, 1).ToByteArray();
        _zstd1 = new Compressor(1);
        _zstd3 = new Compressor(3);
        Console.WriteLine($"// payload {_payload.Length} bytes ({_payload.Length / EventsPerBatch} per event); gzip fastest {GzipFastest()}, gzip optimal {GzipOptimal()}, zstd-1 {Zstd1()}, zstd-3 {Zstd3()} bytes");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _zstd1.Dispose();
        _zstd3.Dispose();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = EventsPerBatch)]
    public long None()
    {
        _output.SetLength(0);
        _output.Write(_payload);
        return _output.Length;
    }

    /// <summary>What the agent sends: grpc-dotnet's gzip provider at CompressionLevel.Fastest.</summary>
    [Benchmark(OperationsPerInvoke = EventsPerBatch)]
    public long GzipFastest() => Gzip(CompressionLevel.Fastest);

    [Benchmark(OperationsPerInvoke = EventsPerBatch)]
    public long GzipOptimal() => Gzip(CompressionLevel.Optimal);

    [Benchmark(OperationsPerInvoke = EventsPerBatch)]
    public long Zstd1() => _zstd1.Wrap(_payload).Length;

    [Benchmark(OperationsPerInvoke = EventsPerBatch)]
    public long Zstd3() => _zstd3.Wrap(_payload).Length;

    private long Gzip(CompressionLevel level)
    {
        _output.SetLength(0);
        using (var gzip = new GZipStream(_output, level, leaveOpen: true))
        {
            gzip.Write(_payload);
        }
        return _output.Length;
    }
}
