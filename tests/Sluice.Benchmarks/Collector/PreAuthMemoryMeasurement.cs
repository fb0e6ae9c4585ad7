using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Google.Protobuf;
using Sluice.Protocol.V1;
using Sluice.Testing;

namespace Sluice.Benchmarks.Collector;

/// <summary>
/// <c>collector-preauth [--calls N] [--runs R] [--kinds K,...] [--collector DLL]</c>: the memory a
/// hostile peer can make the real collector hold. Each run starts a fresh <c>sluice-collector
/// serve</c> (its own process, SQLite store, one enrolled agent), stores one small batch so that
/// the ingest path is warm, reads its peak RSS (VmHWM in /proc/PID/status), sends N calls of one
/// kind at once over HTTP/2, and reads VmHWM again. Prints, per kind, the medians over the runs
/// and their spread (min–max), the gRPC statuses the calls got, and /api/ingest.
/// Kinds:
/// <list type="bullet">
/// <item><c>gzip-none</c>, <c>gzip-bad</c>: an EventBatch that inflates to 15 MiB, gzip-compressed
/// (about 50 KB on the wire), without a token / with a token no agent has.</item>
/// <item><c>plain-none</c>: the same 15 MiB uncompressed, without a token.</item>
/// <item><c>bomb-token</c>: 64 MiB of zeros gzip-compressed (about 64 KB), from the enrolled agent.</item>
/// </list>
/// <c>--collector</c> runs another build (an older commit's <c>sluice-collector.dll</c>) against
/// the same load, for a before/after comparison.
/// </summary>
internal static class PreAuthMemoryMeasurement
{
    private const string Agent = "bench-preauth";
    private const string Token = "bench-preauth-token-0123456789";
    private const int ExpandedBytes = 15 * 1024 * 1024;
    private const int BombBytes = 64 * 1024 * 1024;

    public static int Run(string[] args)
    {
        int calls = 64, runs = 3;
        string[] kinds = ["gzip-none", "gzip-bad", "plain-none", "bomb-token"];
        string collector = Path.Combine(AppContext.BaseDirectory, "sluice-collector.dll");
        for (int i = 1; i < args.Length; i += 2)
        {
            string value = i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--calls": calls = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--runs": runs = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--kinds": kinds = value.Split(','); break;
                case "--collector": collector = Path.GetFullPath(value); break;
                default: throw new ArgumentException($"unknown option {args[i]}");
            }
        }
        return RunAsync(collector, calls, runs, kinds).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(string collector, int calls, int runs, string[] kinds)
    {
        byte[] batch = ExpandingBatch(ExpandedBytes).ToByteArray();
        var bodies = new Dictionary<string, (byte[] Frame, bool Gzip, string? Authorization)>
        {
            ["gzip-none"] = (GrpcFrames.Frame(GrpcFrames.Gzip(batch), compressed: true), true, null),
            ["gzip-bad"] = (GrpcFrames.Frame(GrpcFrames.Gzip(batch), compressed: true), true, "Bearer not-the-token-of-anyone-0123"),
            ["plain-none"] = (GrpcFrames.Frame(batch, compressed: false), false, null),
            ["bomb-token"] = (GrpcFrames.Frame(GrpcFrames.GzipZeros(BombBytes), compressed: true), true, "Bearer " + Token),
        };
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"collector {collector}; {calls} calls at once per run, {runs} runs per kind; message {batch.Length} bytes, gzip {bodies["gzip-none"].Frame.Length - 5} bytes; bomb {BombBytes} bytes, gzip {bodies["bomb-token"].Frame.Length - 5} bytes"));
        Console.WriteLine("| kind | VmHWM before (MB) | VmHWM after (MB) | growth (MB) | statuses | /api/ingest refusals |");
        Console.WriteLine("|---|---:|---:|---:|---|---|");
        foreach (string kind in kinds)
        {
            var (frame, gzip, authorization) = bodies[kind];
            var before = new List<double>();
            var after = new List<double>();
            string statuses = "", counters = "";
            for (int run = 0; run < runs; run++)
            {
                var r = await OneRunAsync(collector, frame, gzip, authorization, calls);
                before.Add(r.BeforeKiB / 1024.0);
                after.Add(r.AfterKiB / 1024.0);
                statuses = r.Statuses;
                counters = r.Counters;
            }
            var growth = after.Zip(before, (a, b) => a - b).ToList();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {kind} | {Median(before):F0} ({before.Min():F0}–{before.Max():F0}) | {Median(after):F0} ({after.Min():F0}–{after.Max():F0}) | {Median(growth):F0} ({growth.Min():F0}–{growth.Max():F0}) | {statuses} | {counters} |"));
        }
        return 0;
    }

    private sealed record RunResult(long BeforeKiB, long AfterKiB, string Statuses, string Counters);

    private static async Task<RunResult> OneRunAsync(string collector, byte[] frame, bool gzip, string? authorization, int calls)
    {
        string dir = Directory.CreateTempSubdirectory("sluice-bench-preauth-").FullName;
        string tokens = Path.Combine(dir, "tokens");
        await File.WriteAllTextAsync(tokens, $"{Agent} {Token}\n");
        File.SetUnixFileMode(tokens, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        using var server = Process.Start(new ProcessStartInfo("dotnet")
        {
            ArgumentList = { collector, "serve", "--listen", "127.0.0.1:0", "--store", "sqlite:" + Path.Combine(dir, "events.db"), "--tokens", tokens },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        try
        {
            _ = server.StandardError.ReadToEndAsync();
            string? line;
            while ((line = await server.StandardOutput.ReadLineAsync()) is not null && !line.Contains(" listening on ", StringComparison.Ordinal))
            {
            }
            var address = new Uri(line?.Split(' ')[3] ?? throw new InvalidOperationException("the collector did not start"));
            _ = server.StandardOutput.ReadToEndAsync();
            using var http = new HttpClient(new SocketsHttpHandler { EnableMultipleHttp2Connections = true }) { Timeout = TimeSpan.FromMinutes(5) };

            // Warm: one small batch stored, so that what follows measures the load, not the first call's JIT.
            var warm = ExpandingBatch(64 * 1024);
            warm.AgentId = Agent;
            var ok = await SendAsync(http, address, GrpcFrames.Frame(warm.ToByteArray(), compressed: false), gzip: false, "Bearer " + Token);
            if (ok != "OK")
            {
                throw new InvalidOperationException($"the warm-up batch was refused: {ok}");
            }
            long before = VmHwmKiB(server.Id);
            var statuses = await Task.WhenAll(Enumerable.Range(0, calls).Select(_ => SendAsync(http, address, frame, gzip, authorization)));
            long after = VmHwmKiB(server.Id);

            using var doc = JsonDocument.Parse(await http.GetStringAsync(Request(address, "/api/ingest")));
            string counters = string.Join(", ", doc.RootElement.EnumerateObject()
                .Where(p => p.Name.StartsWith("refused_", StringComparison.Ordinal) && p.Value.GetInt64() > 0)
                .Select(p => $"{p.Name[8..]} {p.Value.GetInt64()}"));
            string tally = string.Join(", ", statuses.GroupBy(s => s).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Count()} {g.Key}"));
            return new RunResult(before, after, tally, counters.Length == 0 ? "none" : counters);
        }
        finally
        {
            server.Kill();
            await server.WaitForExitAsync();
            Directory.Delete(dir, recursive: true);
        }
    }

    private static Uri Request(Uri address, string path) => new(address, path);

    /// <summary>One call over h2c; the gRPC status name, or the failure.</summary>
    private static async Task<string> SendAsync(HttpClient http, Uri address, byte[] frame, bool gzip, string? authorization)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(address, "/sluice.v1.Ingest/Send"))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(frame),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        request.Headers.TryAddWithoutValidation("te", "trailers");
        if (gzip)
        {
            request.Headers.TryAddWithoutValidation("grpc-encoding", "gzip");
        }
        if (authorization is not null)
        {
            request.Headers.TryAddWithoutValidation("authorization", authorization);
        }
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            await response.Content.ReadAsByteArrayAsync();
            string? status = response.Headers.TryGetValues("grpc-status", out var h) ? h.First()
                : response.TrailingHeaders.TryGetValues("grpc-status", out var t) ? t.First() : null;
            return status is null ? $"HTTP {(int)response.StatusCode}" : ((Grpc.Core.StatusCode)int.Parse(status, CultureInfo.InvariantCulture)).ToString();
        }
        catch (HttpRequestException e)
        {
            return "failed: " + e.Message;
        }
    }

    private static long VmHwmKiB(int pid) =>
        Sluice.Testing.ProcStat.PeakRssKb(pid) ?? throw new InvalidOperationException($"collector {pid} has no /proc/{pid}/status");

    /// <summary>A batch of about <paramref name="bytes"/>: events of one 8 KiB EXECVE record each, text that compresses well.</summary>
    private static EventBatch ExpandingBatch(int bytes)
    {
        long t0 = CollectorWorkload.StartUnixMs();
        var batch = CollectorWorkload.Batch(Agent, 0, 0, t0);
        batch.Sequence = 1;
        const int recordBytes = 8 * 1024;
        string text = string.Concat(Enumerable.Repeat("type=EXECVE msg=audit(1764028800.000:1): argc=3 a0=\"ls\" a1=\"-l\" a2=\"/tmp\" ", recordBytes / 64 + 1))[..recordBytes];
        var raw = ByteString.CopyFromUtf8(text);
        for (int i = 0; batch.CalculateSize() < bytes; i++)
        {
            batch.Events.Add(new Event
            {
                Serial = (ulong)i + 1,
                Timestamp = $"{(t0 + i) / 1000}.{(t0 + i) % 1000:000}",
                TimeUnixMs = t0 + i,
                Records = { new Record { Type = 1309, TypeName = "EXECVE", Raw = raw } },
            });
        }
        return batch;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }
}
