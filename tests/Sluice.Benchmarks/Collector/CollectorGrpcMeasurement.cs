using System.Diagnostics;
using System.Globalization;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Sluice.Collector.Auth;
using Sluice.Protocol.V1;
using Sluice.Testing;

namespace Sluice.Benchmarks.Collector;

/// <summary>
/// <c>collector-ingest STORE CALLERS ROUNDS grpc</c>: the real path with the real collector
/// (<c>sluice-collector serve</c>, with its own runtime settings: server GC, no idle spinning) in a
/// process of its own, so that the client's CPU, the collector's and the database server's can be
/// told apart. The client keeps <c>CALLERS</c> unary <c>Send</c> calls in flight
/// over one h2c connection, as an agent does. Its batches are serialised once beforehand (only the
/// sequence is re-encoded per call), so the client costs as little as a client can. Every batch of
/// every round is a different one, its events later than the round before's, as an agent's stream
/// is: sending the same events again would insert them into the middle of the time indexes instead
/// of at their end, a cost no agent causes.
/// </summary>
internal static class CollectorGrpcMeasurement
{
    private const int BatchCount = 50;
    private const int EventsPerBatch = 1000;
    private const string Agent = "bench-grpc";
    // Enough for tiered compilation to finish in the collector before measuring.
    private const int WarmUpRounds = 16;
    private const string Token = "bench-token-0123456789";

    /// <summary>An EventBatch's bytes as two parts: its header (with the sequence) and its events, encoded apart.</summary>
    internal sealed record Body(byte[] Header, byte[] Events);

    // An EventBatch's bytes written as two parts, header then events: no copy into one array first.
    private static readonly Marshaller<Body> Bytes = Marshallers.Create<Body>(
        static (body, context) => WriteTwoParts(body.Header, body.Events, context),
        static _ => throw new NotSupportedException());

    /// <summary>Writes a message given as two encoded parts (header, then events) into the call's buffer, without joining them first.</summary>
    internal static void WriteTwoParts(ReadOnlySpan<byte> header, ReadOnlySpan<byte> events, SerializationContext context)
    {
        int length = header.Length + events.Length;
        context.SetPayloadLength(length);
        var writer = context.GetBufferWriter();
        var span = writer.GetSpan(length);
        header.CopyTo(span);
        events.CopyTo(span[header.Length..]);
        writer.Advance(length);
        context.Complete();
    }
    /// <summary><c>Ingest.Send</c> with the batch given as its encoded <see cref="Body"/> (<c>collector-scale</c> sends the same way).</summary>
    internal static readonly Method<Body, Ack> Send = new(
        MethodType.Unary, "sluice.v1.Ingest", "Send", Bytes, Marshallers.Create(a => a.ToByteArray(), Ack.Parser.ParseFrom));

    public static async Task<int> RunAsync(string kind, int callers, int rounds)
    {
        await using var stores = new CollectorStores();
        string location = await stores.LocationAsync(kind);
        string tokens = Path.Combine(Directory.CreateTempSubdirectory("sluice-bench-tokens-").FullName, "tokens");
        await File.WriteAllTextAsync(tokens, AgentTokens.HashedLine(Agent, Token) + "\n");
        // The collector refuses a token file that group or others can read.
        File.SetUnixFileMode(tokens, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        using var server = Process.Start(new ProcessStartInfo("dotnet")
        {
            ArgumentList =
            {
                Path.Combine(AppContext.BaseDirectory, "sluice-collector.dll"), "serve",
                "--listen", "127.0.0.1:0", "--store", location, "--tokens", tokens,
            },
            RedirectStandardOutput = true,
            UseShellExecute = false,
        })!;
        try
        {
            // "sluice-collector: listening on URL (h2c), ..."
            string? line;
            while ((line = await server.StandardOutput.ReadLineAsync()) is not null && !line.Contains(" listening on ", StringComparison.Ordinal))
            {
            }
            string url = line?.Split(' ')[3] ?? throw new InvalidOperationException("the collector did not start");
            // Keep reading what it logs, so that a full pipe never stalls it.
            _ = server.StandardOutput.ReadToEndAsync();
            using var channel = GrpcChannel.ForAddress(url);
            var invoker = channel.CreateCallInvoker();
            var options = new CallOptions(new Metadata { { "authorization", "Bearer " + Token } });
            // A batch's bytes = its header (with the sequence) followed by its events, encoded once.
            long t0 = CollectorWorkload.StartUnixMs();
            var header = CollectorWorkload.Batch(Agent, 0, 0, t0);
            var events = new byte[(WarmUpRounds + rounds) * BatchCount][];
            for (int b = 0; b < events.Length; b++)
            {
                var only = new EventBatch();
                only.Events.Add(CollectorWorkload.Batch(Agent, b, EventsPerBatch, t0).Events);
                events[b] = only.ToByteArray();
            }
            // The events built on the way are garbage now: collect them before measuring, not during.
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);

            var rates = new List<double>();
            var client = new List<double>();
            var collector = new List<double>();
            var database = new List<double>();
            for (int round = -WarmUpRounds; round < rounds; round++)
            {
                var self = Process.GetCurrentProcess();
                var client0 = self.TotalProcessorTime;
                var collector0 = ProcessCpu(server.Id);
                var db0 = stores.DatabaseCpuTime();
                var watch = Stopwatch.StartNew();
                int next = (round + WarmUpRounds) * BatchCount - 1;
                int end = next + 1 + BatchCount;
                await Task.WhenAll(Enumerable.Range(0, callers).Select(async _ =>
                {
                    int i;
                    while ((i = Interlocked.Increment(ref next)) < end)
                    {
                        var head = header.Clone();
                        head.Sequence = (ulong)i + 1;
                        var ack = await invoker.AsyncUnaryCall(Send, null, options, new Body(head.ToByteArray(), events[i]));
                        if (ack.Duplicate || ack.EventsStored != EventsPerBatch)
                        {
                            throw new InvalidOperationException($"batch {ack.Sequence} was not stored");
                        }
                    }
                }));
                watch.Stop();
                self.Refresh();
                const double n = BatchCount * EventsPerBatch;
                if (round >= 0)
                {
                    rates.Add(n / watch.Elapsed.TotalSeconds);
                    client.Add((self.TotalProcessorTime - client0).TotalMicroseconds / n);
                    collector.Add((ProcessCpu(server.Id) - collector0).TotalMicroseconds / n);
                    database.Add((stores.DatabaseCpuTime() - db0).TotalMicroseconds / n);
                }
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{kind} grpc callers={callers} rounds={rounds}: median {Median(rates):N0} events/s; CPU/event: client {Median(client):F2} us, collector {Median(collector):F2} us, database server {Median(database):F2} us"));
            return 0;
        }
        finally
        {
            server.Kill();
            await server.WaitForExitAsync();
            Directory.Delete(Path.GetDirectoryName(tokens)!, recursive: true);
        }
    }

    /// <summary>User + system CPU time of a process so far, from /proc.</summary>
    internal static TimeSpan ProcessCpu(int pid) =>
        TimeSpan.FromMicroseconds(ProcStat.TicksToMicroseconds((ProcStat.Cpu(pid) ?? throw new InvalidOperationException($"the collector (pid {pid}) has exited")).Own));

    internal static double Median(IReadOnlyCollection<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }
}
