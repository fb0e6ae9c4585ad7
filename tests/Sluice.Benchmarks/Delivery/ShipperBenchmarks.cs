using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Sluice.Agent.Shipping;
using Sluice.Agent.Spool;
using Sluice.Protocol.V1;

namespace Sluice.Benchmarks.Delivery;

/// <summary>
/// The whole agent delivery path per event: spool append, read, gRPC send (compressed), ack —
/// against a collector on 127.0.0.1 in the same process that parses and acknowledges but stores
/// nothing. The collector's work (HTTP/2, decompression, parsing) runs on the same cores, so the
/// figure is an upper bound of the agent's own CPU.
/// </summary>
[MemoryDiagnoser]
public class ShipperBenchmarks
{
    private const int EventsPerBatch = 1000;
    private const int BatchesPerOperation = 20;
    private string _dir = "";
    private WebApplication _sink = null!;
    private DiskSpool _spool = null!;
    private Shipper _shipper = null!;
    private CancellationTokenSource _stop = null!;
    private Task _run = null!;
    private EventBatch[] _batches = [];

    [Params("Gzip", "None")]
    public string Compression { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        _sink = SinkCollector.Start(0);
        string url = SinkCollector.Url(_sink);

        _dir = Directory.CreateTempSubdirectory("sluice-bench-ship-").FullName;
        _spool = DiskSpool.Open(new SpoolOptions { Directory = Path.Combine(_dir, "spool"), MaxBytes = 1024L * 1024 * 1024, SegmentBytes = 16 * 1024 * 1024, Fsync = FsyncMode.Never });
        _shipper = new Shipper(_spool, new ShipperOptions
        {
            CollectorUrl = url,
            AllowInsecureTransport = true,
            Token = "bench",
            Compression = Enum.Parse<ShippingCompression>(Compression),
            QuarantineDirectory = Path.Combine(_dir, "quarantine"),
        });
        _batches = Enumerable.Range(0, BatchesPerOperation).Select(i => GetppidWorkload.Batch(EventsPerBatch, (ulong)(i * EventsPerBatch))).ToArray();
        _stop = new CancellationTokenSource();
        _run = _shipper.RunAsync(_stop.Token);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _stop.Cancel();
        _run.GetAwaiter().GetResult();
        _shipper.Dispose();
        _spool.Dispose();
        _sink.StopAsync().GetAwaiter().GetResult();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>20 batches of 1000 events appended and shipped until the collector acknowledged them all; reported per event.</summary>
    [Benchmark(OperationsPerInvoke = EventsPerBatch * BatchesPerOperation)]
    public async Task AppendAndShip()
    {
        var acks = _sink.Services.GetRequiredService<SinkCollector.AckCounter>();
        var done = acks.WaitFor(BatchesPerOperation);
        foreach (var batch in _batches)
        {
            _spool.Append(batch);
        }
        await done;
    }
}
