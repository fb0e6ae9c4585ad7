using System.Net;
using BenchmarkDotNet.Attributes;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
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

    [Params(ShippingCompression.Gzip, ShippingCompression.None)]
    public ShippingCompression Compression { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddGrpc();
        builder.Services.AddSingleton<AckCounter>();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
        _sink = builder.Build();
        _sink.MapGrpcService<SinkIngestService>();
        _sink.StartAsync().GetAwaiter().GetResult();
        string url = _sink.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

        _dir = Directory.CreateTempSubdirectory("sluice-bench-ship-").FullName;
        _spool = DiskSpool.Open(new SpoolOptions { Directory = Path.Combine(_dir, "spool"), MaxBytes = 1024L * 1024 * 1024, SegmentBytes = 16 * 1024 * 1024, Fsync = FsyncMode.Never });
        _shipper = new Shipper(_spool, new ShipperOptions
        {
            CollectorUrl = url,
            AllowInsecureTransport = true,
            Token = "bench",
            Compression = Compression,
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
        var acks = _sink.Services.GetRequiredService<AckCounter>();
        var done = acks.WaitFor(BatchesPerOperation);
        foreach (var batch in _batches)
        {
            _spool.Append(batch);
        }
        await done;
    }

    private sealed class AckCounter
    {
        private int _remaining;
        private TaskCompletionSource _done = new();

        public Task WaitFor(int count)
        {
            _done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _remaining, count);
            return _done.Task;
        }

        public void Acked()
        {
            if (Interlocked.Decrement(ref _remaining) == 0)
            {
                _done.TrySetResult();
            }
        }
    }

    private sealed class SinkIngestService(AckCounter acks) : Ingest.IngestBase
    {
        public override Task<Ack> Send(EventBatch request, ServerCallContext context)
        {
            acks.Acked();
            return Task.FromResult(new Ack { Sequence = request.Sequence, EventsStored = (uint)request.Events.Count });
        }
    }
}
