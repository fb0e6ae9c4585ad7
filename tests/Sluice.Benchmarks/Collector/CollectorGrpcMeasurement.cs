using System.Diagnostics;
using System.Globalization;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Sluice.Collector.Auth;
using Sluice.Collector.Hosting;
using Sluice.Collector.Storage;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;

namespace Sluice.Benchmarks.Collector;

/// <summary>
/// <c>collector-ingest STORE CALLERS ROUNDS grpc</c>: the real path with the collector in a process
/// of its own (<c>collector-serve</c>), so that the client's CPU, the collector's and the database
/// server's can be told apart. The client keeps <c>CALLERS</c> unary <c>Send</c> calls in flight
/// over one h2c connection, as an agent does. Its batches are serialised once beforehand (only the
/// sequence is re-encoded per call), so the client costs as little as a client can.
/// </summary>
internal static class CollectorGrpcMeasurement
{
    private const int BatchCount = 50;
    private const int EventsPerBatch = 1000;
    private const string Agent = "bench-grpc";
    private const string Token = "bench-token-0123456789";

    private static readonly Marshaller<byte[]> Bytes = Marshallers.Create(b => b, (byte[] b) => b);
    private static readonly Method<byte[], Ack> Send = new(
        MethodType.Unary, "sluice.v1.Ingest", "Send", Bytes, Marshallers.Create(a => a.ToByteArray(), Ack.Parser.ParseFrom));

    public static async Task<int> RunAsync(string kind, int callers, int rounds)
    {
        await using var stores = new CollectorStores();
        string location = await stores.LocationAsync(kind);
        string tokens = Path.Combine(Directory.CreateTempSubdirectory("sluice-bench-tokens-").FullName, "tokens");
        await File.WriteAllTextAsync(tokens, AgentTokens.HashedLine(Agent, Token) + "\n");
        using var server = Process.Start(new ProcessStartInfo("dotnet")
        {
            ArgumentList = { typeof(CollectorGrpcMeasurement).Assembly.Location, "collector-serve", location, tokens },
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        })!;
        try
        {
            string url = await server.StandardOutput.ReadLineAsync() ?? throw new InvalidOperationException("the collector did not start");
            using var channel = GrpcChannel.ForAddress(url);
            var invoker = channel.CreateCallInvoker();
            var options = new CallOptions(new Metadata { { "authorization", "Bearer " + Token } });
            var batches = CollectorWorkload.Batches(Agent, BatchCount, EventsPerBatch);
            // A batch's bytes = its header (with the sequence) followed by its events, encoded once.
            var events = batches.Select(b =>
            {
                var only = new EventBatch();
                only.Events.Add(b.Events);
                return only.ToByteArray();
            }).ToArray();
            foreach (var b in batches)
            {
                b.Events.Clear();
            }

            ulong sequence = 0;
            var rates = new List<double>();
            var client = new List<double>();
            var collector = new List<double>();
            var database = new List<double>();
            for (int round = -2; round < rounds; round++)
            {
                var self = Process.GetCurrentProcess();
                var client0 = self.TotalProcessorTime;
                var collector0 = ProcessCpu(server.Id);
                var db0 = stores.DatabaseCpuTime();
                var watch = Stopwatch.StartNew();
                int next = -1;
                await Task.WhenAll(Enumerable.Range(0, callers).Select(async _ =>
                {
                    int i;
                    while ((i = Interlocked.Increment(ref next)) < batches.Length)
                    {
                        var header = batches[i].Clone();
                        header.Sequence = Interlocked.Increment(ref sequence);
                        byte[] body = [.. header.ToByteArray(), .. events[i]];
                        var ack = await invoker.AsyncUnaryCall(Send, null, options, body);
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
            server.StandardInput.Close();
            if (!server.WaitForExit(30_000))
            {
                server.Kill();
            }
            Directory.Delete(Path.GetDirectoryName(tokens)!, recursive: true);
        }
    }

    /// <summary>The collector as a child process: prints its URL, serves until its stdin closes.</summary>
    public static int Serve(string[] args)
    {
        var server = CollectorServer.StartAsync(new CollectorOptions
        {
            Listen = "127.0.0.1:0",
            Store = StoreLocation.Parse(args[1]),
            TokensFile = args[2],
        }, logging: logging => logging.SetMinimumLevel(LogLevel.Warning)).GetAwaiter().GetResult();
        Console.WriteLine(server.Address);
        Console.Out.Flush();
        Console.In.ReadToEnd();
        server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        return 0;
    }

    /// <summary>User + system CPU time of a process so far, from /proc (USER_HZ is 100 on Linux).</summary>
    private static TimeSpan ProcessCpu(int pid)
    {
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return TimeSpan.FromMilliseconds(10 * (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)));
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }
}
