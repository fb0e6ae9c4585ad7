using BenchmarkDotNet.Attributes;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Sluice.Collector.Auth;
using Sluice.Collector.Hosting;
using Sluice.Collector.Storage;
using Sluice.Protocol.V1;

namespace Sluice.Benchmarks.Collector;

/// <summary>
/// Through the real path: gRPC client, h2c to Kestrel on 127.0.0.1, token check, validation, store.
/// Compares unary calls with several in flight against one bidirectional stream.
/// </summary>
[Config(typeof(CollectorBenchConfig))]
public class CollectorGrpcIngestBenchmarks
{
    private const int BatchCount = 50;
    private const int EventsPerBatch = 1000;
    private const string Agent = "bench-grpc";
    private const string Token = "bench-token-0123456789";
    private readonly CollectorStores _stores = new();
    private string _dir = null!;
    private CollectorServer _server = null!;
    private GrpcChannel _channel = null!;
    private Ingest.IngestClient _client = null!;
    private EventBatch[] _batches = null!;
    private readonly CollectorRounds _rounds = new(Agent, BatchCount, EventsPerBatch);
    private Metadata _auth = null!;
    private ulong _sequence;

    [Params("discard", "sqlite", "postgres")]
    public string Store { get; set; } = "discard";

    /// <summary>unary-1: one call at a time; unary-8: eight in flight; stream: one SendStream call.</summary>
    [Params("unary-1", "unary-8", "stream")]
    public string Transport { get; set; } = "stream";

    [GlobalSetup]
    public void Setup()
    {
        _dir = Directory.CreateTempSubdirectory("sluice-bench-grpc-").FullName;
        string tokens = Path.Combine(_dir, "tokens");
        File.WriteAllText(tokens, AgentTokens.HashedLine(Agent, Token) + "\n");
        // The collector refuses a token file that group or others can read.
        File.SetUnixFileMode(tokens, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var store = _stores.OpenAsync(Store).GetAwaiter().GetResult();
        _server = CollectorServer.StartAsync(new CollectorOptions
        {
            Listen = "127.0.0.1:0",
            Store = new StoreLocation(StoreKind.Sqlite, "given"),
            TokensFile = tokens,
        }, store, logging => logging.SetMinimumLevel(LogLevel.Warning)).GetAwaiter().GetResult();
        _channel = GrpcChannel.ForAddress(_server.Address);
        _client = new Ingest.IngestClient(_channel);
        _auth = new Metadata { { "authorization", "Bearer " + Token } };
    }

    /// <summary>Every iteration sends new events, later than the last iteration's (<see cref="CollectorRounds"/>).</summary>
    [IterationSetup]
    public void NextRound() => _batches = _rounds.Next();

    [Benchmark(OperationsPerInvoke = BatchCount * EventsPerBatch)]
    public Task Ingest() => CollectorCpuMeter.MeasureAsync(
        CollectorCpuMeter.Key((nameof(Store), Store), (nameof(Transport), Transport)),
        BatchCount * EventsPerBatch,
        () => Transport switch
        {
            "unary-1" => UnaryAsync(1),
            "unary-8" => UnaryAsync(8),
            _ => StreamAsync(),
        },
        _stores.DatabaseCpuTime);

    private async Task UnaryAsync(int inFlight)
    {
        int next = -1;
        var workers = Enumerable.Range(0, inFlight).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < _batches.Length)
            {
                var batch = _batches[i];
                batch.Sequence = Interlocked.Increment(ref _sequence);
                Check(await _client.SendAsync(batch, _auth));
            }
        });
        await Task.WhenAll(workers);
    }

    private async Task StreamAsync()
    {
        using var call = _client.SendStream(_auth);
        var reading = Task.Run(async () =>
        {
            int acks = 0;
            await foreach (var ack in call.ResponseStream.ReadAllAsync())
            {
                Check(ack);
                acks++;
            }
            return acks;
        });
        foreach (var batch in _batches)
        {
            batch.Sequence = ++_sequence;
            await call.RequestStream.WriteAsync(batch);
        }
        await call.RequestStream.CompleteAsync();
        if (await reading != _batches.Length)
        {
            throw new InvalidOperationException("missing acks");
        }
    }

    private static void Check(Ack ack)
    {
        if (ack.Duplicate || ack.EventsStored != EventsPerBatch)
        {
            throw new InvalidOperationException($"batch {ack.Sequence} was not stored");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _channel.Dispose();
        var store = _server.Store;
        _server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        store.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _stores.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_dir, recursive: true);
    }
}
