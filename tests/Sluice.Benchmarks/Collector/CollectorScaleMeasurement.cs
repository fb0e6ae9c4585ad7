using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Npgsql;
using Sluice.Collector.Auth;
using Sluice.Protocol.V1;
using Body = Sluice.Benchmarks.Collector.CollectorGrpcMeasurement.Body;

namespace Sluice.Benchmarks.Collector;

/// <summary>
/// <c>collector-scale [TIERS] [RUNS] [ROUNDS] [AGENTS] [IN_FLIGHT] [WARM_UP]</c>: aggregate ingest into one
/// PostgreSQL through 1, 2, 3 ... real <c>sluice-collector serve</c> processes (TIERS, default <c>1,2,3</c>).
/// AGENTS identities (default 6), each with its own token and connection, send to collector
/// <c>agent % N</c>, IN_FLIGHT unary calls each (default 1), batches of 1000 benchmark events with
/// consecutive sequences; a failed call is retried on the same collector and counted. Each run starts
/// a fresh PostgreSQL cluster and the collectors, sends WARM_UP rounds (default 12), then ROUNDS
/// measured rounds (default 8) of 60,000 events; the tiers take turns run by run (1, 2, 3, 1, 2, 3,
/// ...) so that the machine's load falls on each alike. Per round: events/s, and CPU time per event of
/// this process (the load client), of the collectors summed and of PostgreSQL's processes summed.
/// After the run, the collectors' <c>/api/ingest</c> counters (store failures, refusals) and the
/// store's rows, which must be exactly the batches and events sent.
/// </summary>
internal static class CollectorScaleMeasurement
{
    private const int EventsPerBatch = 1000;
    private const int EventsPerRound = 60_000;

    public static int Run(string[] args)
    {
        int[] tiers = args.Length > 1 ? [.. args[1].Split(',').Select(t => int.Parse(t, CultureInfo.InvariantCulture))] : [1, 2, 3];
        int runs = Arg(args, 2, 3);
        int rounds = Arg(args, 3, 8);
        int agents = Arg(args, 4, 6);
        int inFlight = Arg(args, 5, 1);
        int warmUp = Arg(args, 6, 12);
        if (tiers.Any(t => t < 1) || runs < 1 || rounds < 1 || agents < 1 || inFlight < 1 || warmUp < 0)
        {
            Console.Error.WriteLine("usage: collector-scale [TIERS e.g. 1,2,3] [RUNS] [ROUNDS] [AGENTS] [IN_FLIGHT] [WARM_UP]");
            return 2;
        }
        return RunAsync(tiers, runs, rounds, agents, inFlight, warmUp).GetAwaiter().GetResult();
    }

    private static int Arg(string[] args, int i, int fallback) => args.Length > i ? int.Parse(args[i], CultureInfo.InvariantCulture) : fallback;

    private static async Task<int> RunAsync(int[] tiers, int runs, int rounds, int agents, int inFlight, int warmUp)
    {
        Console.WriteLine($"collector-scale: tiers {string.Join(",", tiers)}, {runs} runs each, {warmUp} warm-up + {rounds} measured rounds of {EventsPerRound:N0} events, " +
            $"{agents} agents with {inFlight} call(s) in flight each; load average {LoadAverage()}");
        var results = new List<ScaleRun>();
        for (int run = 1; run <= runs; run++)
        {
            foreach (int collectors in tiers)
            {
                var result = await RunOnceAsync(run, collectors, agents, inFlight, warmUp, rounds);
                Console.WriteLine(result.Line());
                results.Add(result);
            }
        }
        Console.WriteLine();
        Console.WriteLine(ScaleSummary.Markdown(results));
        return results.All(r => r.StoredExactly) ? 0 : 1;
    }

    private static string LoadAverage() => string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));

    private static async Task<ScaleRun> RunOnceAsync(int run, int collectors, int agents, int inFlight, int warmUp, int rounds)
    {
        string loadBefore = LoadAverage();
        await using var stores = new CollectorStores();
        string location = await stores.LocationAsync("postgres");
        string dir = Directory.CreateTempSubdirectory("sluice-bench-scale-").FullName;
        string tokens = Path.Combine(dir, "tokens");
        var ids = Enumerable.Range(1, agents).Select(i => $"bench-scale-{i}").ToArray();
        await File.WriteAllTextAsync(tokens, string.Concat(ids.Select(id => AgentTokens.HashedLine(id, Token(id)) + "\n")));
        // The collector refuses a token file that group or others can read.
        File.SetUnixFileMode(tokens, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var servers = new List<CollectorChild>();
        var senders = new List<ScaleSender>();
        try
        {
            // All at once: schema creation is serialised in the store (tested by the collector tests' Scale/ConcurrentStartTests).
            servers.AddRange(Enumerable.Range(0, collectors).Select(_ => CollectorChild.Start(location, tokens)));
            await Task.WhenAll(servers.Select(s => s.ListeningAsync()));
            int batchesPerAgent = Math.Max(1, EventsPerRound / EventsPerBatch / agents);
            long t0 = CollectorWorkload.StartUnixMs();
            var counters = new ScaleCounters();
            senders.AddRange(ids.Select((id, i) => new ScaleSender(id, servers[i % collectors].Url, t0, counters)));

            var rates = new List<double>();
            var client = new List<double>();
            var collectorCpu = new List<double>();
            var database = new List<double>();
            for (int round = -warmUp; round < rounds; round++)
            {
                int index = (round + warmUp) * batchesPerAgent;
                var work = senders.Select(s => s.Prepare(index, batchesPerAgent)).ToList();
                // What building the round left behind is collected now, not while measuring.
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
                var self = Process.GetCurrentProcess();
                var client0 = self.TotalProcessorTime;
                var collectors0 = servers.Sum(s => s.Cpu().TotalMicroseconds);
                var db0 = stores.DatabaseCpuTime();
                var watch = Stopwatch.StartNew();
                await Task.WhenAll(senders.Select((s, i) => s.SendAsync(work[i], inFlight)));
                watch.Stop();
                self.Refresh();
                double n = (double)batchesPerAgent * agents * EventsPerBatch;
                if (round >= 0)
                {
                    rates.Add(n / watch.Elapsed.TotalSeconds);
                    client.Add((self.TotalProcessorTime - client0).TotalMicroseconds / n);
                    collectorCpu.Add((servers.Sum(s => s.Cpu().TotalMicroseconds) - collectors0) / n);
                    database.Add((stores.DatabaseCpuTime() - db0).TotalMicroseconds / n);
                }
            }

            // What the collectors counted: failures of the store and refusals, summed over them.
            var ingest = new Dictionary<string, long>(StringComparer.Ordinal);
            foreach (var server in servers)
            {
                foreach (var (key, value) in await server.IngestCountersAsync())
                {
                    ingest[key] = ingest.GetValueOrDefault(key) + value;
                }
            }
            long sentBatches = (long)(warmUp + rounds) * batchesPerAgent * agents;
            var (storedBatches, storedEvents, distinctKeys) = await StoredAsync(location);
            return new ScaleRun
            {
                Run = run,
                Collectors = collectors,
                EventsPerSecond = CollectorGrpcMeasurement.Median(rates),
                ClientUs = CollectorGrpcMeasurement.Median(client),
                CollectorsUs = CollectorGrpcMeasurement.Median(collectorCpu),
                DatabaseUs = CollectorGrpcMeasurement.Median(database),
                FailedCalls = counters.Failed.ToDictionary(f => f.Key.ToString(), f => (long)f.Value),
                Conflicts = counters.Conflicts,
                Refused = counters.Refused,
                DuplicateAcks = counters.DuplicateAcks,
                StoreFailures = ingest.GetValueOrDefault("store_failures"),
                RefusedByCollectors = ingest.Where(kv => kv.Key.StartsWith("refused_", StringComparison.Ordinal)).Sum(kv => kv.Value),
                StoredExactly = storedBatches == sentBatches && distinctKeys == sentBatches && storedEvents == sentBatches * EventsPerBatch,
                Stored = $"{storedBatches} of {sentBatches} batches, {storedEvents} events",
                LoadAverage = $"{loadBefore} -> {LoadAverage()}",
            };
        }
        finally
        {
            senders.ForEach(s => s.Dispose());
            foreach (var server in servers)
            {
                await server.DisposeAsync();
            }
            Directory.Delete(dir, recursive: true);
        }
    }

    private static string Token(string agentId) => "bench-token-" + agentId + "-0123456789";

    /// <summary>Batches, events and distinct batch keys in the store.</summary>
    private static async Task<(long Batches, long Events, long Keys)> StoredAsync(string location)
    {
        await using var connection = new NpgsqlConnection(location["postgres:".Length..]);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT (SELECT count(*) FROM batches), (SELECT count(*) FROM events), (SELECT count(DISTINCT (agent, epoch, sequence)) FROM batches)", connection);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
    }

    /// <summary>What the load client saw, over all agents of a run.</summary>
    private sealed class ScaleCounters
    {
        public readonly ConcurrentDictionary<StatusCode, int> Failed = new();
        public long Conflicts;
        public long Refused;
        public long DuplicateAcks;
    }

    /// <summary>
    /// One agent: its own connection to its collector, its epoch, batches with consecutive sequences. Each
    /// round's batches are encoded before the round (only the header with the sequence per call), as in
    /// <see cref="CollectorGrpcMeasurement"/>, so that the client costs little and the same on every tier.
    /// </summary>
    private sealed class ScaleSender : IDisposable
    {
        private readonly GrpcChannel _channel;
        private readonly CallInvoker _invoker;
        private readonly CallOptions _options;
        private readonly EventBatch _header;
        private readonly string _agentId;
        private readonly long _t0;
        private readonly ScaleCounters _counters;

        public ScaleSender(string agentId, string url, long t0, ScaleCounters counters)
        {
            _agentId = agentId;
            _t0 = t0;
            _counters = counters;
            _channel = GrpcChannel.ForAddress(url);
            _invoker = _channel.CreateCallInvoker();
            _options = new CallOptions(new Metadata { { "authorization", "Bearer " + Token(agentId) } });
            _header = CollectorWorkload.Batch(agentId, 0, 0, t0);
            _header.Epoch = Guid.NewGuid().ToString("N");
            _header.EpochStartSequence = 1;
        }

        /// <summary>Batches <paramref name="first"/> .. first + count - 1 (sequence = index + 1), encoded.</summary>
        public Body[] Prepare(int first, int count)
        {
            var bodies = new Body[count];
            for (int i = 0; i < count; i++)
            {
                var head = _header.Clone();
                head.Sequence = (ulong)(first + i) + 1;
                var only = new EventBatch();
                only.Events.Add(CollectorWorkload.Batch(_agentId, first + i, EventsPerBatch, _t0).Events);
                bodies[i] = new Body(head.ToByteArray(), only.ToByteArray());
            }
            return bodies;
        }

        public async Task SendAsync(Body[] bodies, int inFlight)
        {
            int next = -1;
            await Task.WhenAll(Enumerable.Range(0, inFlight).Select(async _ =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < bodies.Length)
                {
                    await SendUntilAnsweredAsync(bodies[i]);
                }
            }));
        }

        /// <summary>Resends after a failure (counted), as an agent does; a refusal or a conflict is counted and not resent.</summary>
        private async Task SendUntilAnsweredAsync(Body body)
        {
            while (true)
            {
                try
                {
                    var ack = await _invoker.AsyncUnaryCall(CollectorGrpcMeasurement.Send, null, _options, body);
                    if (ack.Duplicate)
                    {
                        Interlocked.Increment(ref _counters.DuplicateAcks);
                    }
                    else if (ack.EventsStored != EventsPerBatch)
                    {
                        throw new InvalidOperationException($"{_agentId} batch {ack.Sequence}: {ack.EventsStored} events stored of {EventsPerBatch}");
                    }
                    return;
                }
                catch (RpcException e) when (e.StatusCode == StatusCode.AlreadyExists)
                {
                    Interlocked.Increment(ref _counters.Conflicts);
                    return;
                }
                catch (RpcException e) when (e.StatusCode is StatusCode.InvalidArgument or StatusCode.PermissionDenied or StatusCode.Unauthenticated
                    or StatusCode.FailedPrecondition or StatusCode.OutOfRange)
                {
                    Interlocked.Increment(ref _counters.Refused);
                    return;
                }
                catch (RpcException e)
                {
                    _counters.Failed.AddOrUpdate(e.StatusCode, 1, (_, n) => n + 1);
                    await Task.Delay(50);
                }
            }
        }

        public void Dispose() => _channel.Dispose();
    }

    /// <summary>A real <c>sluice-collector serve</c> (its own runtime settings: server GC, no idle spinning) in a child process.</summary>
    private sealed class CollectorChild : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly TaskCompletionSource<string> _url = new(TaskCreationOptions.RunContinuationsAsynchronously);

        private CollectorChild(Process process)
        {
            _process = process;
            _ = ReadAsync();
        }

        public string Url => _url.Task.IsCompletedSuccessfully ? _url.Task.Result : throw new InvalidOperationException("the collector is not listening yet");

        public static CollectorChild Start(string location, string tokens) => new(Process.Start(new ProcessStartInfo("dotnet")
        {
            ArgumentList =
            {
                Path.Combine(AppContext.BaseDirectory, "sluice-collector.dll"), "serve",
                "--listen", "127.0.0.1:0", "--store", location, "--tokens", tokens,
            },
            RedirectStandardOutput = true,
            UseShellExecute = false,
        })!);

        public async Task ListeningAsync() => await _url.Task.WaitAsync(TimeSpan.FromMinutes(3));

        /// <summary>"sluice-collector: listening on URL (h2c ...), ...", then the rest of what it logs, so that a full pipe never stalls it.</summary>
        private async Task ReadAsync()
        {
            string? line;
            while ((line = await _process.StandardOutput.ReadLineAsync()) is not null)
            {
                if (!_url.Task.IsCompleted && line.StartsWith("sluice-collector: listening on ", StringComparison.Ordinal))
                {
                    _url.TrySetResult(line.Split(' ')[3]);
                }
                else if (line.StartsWith("fail:", StringComparison.Ordinal) || line.StartsWith("crit:", StringComparison.Ordinal))
                {
                    Console.Error.WriteLine($"collector {_process.Id}: {line}");
                }
            }
            _url.TrySetException(new InvalidOperationException($"the collector (pid {_process.Id}) exited before it listened"));
        }

        public TimeSpan Cpu() => CollectorGrpcMeasurement.ProcessCpu(_process.Id);

        /// <summary>Its <c>/api/ingest</c> counters (since it started: per process).</summary>
        public async Task<Dictionary<string, long>> IngestCountersAsync()
        {
            using var http = new HttpClient();
            string json = await http.GetStringAsync(new Uri(new Uri(Url), "/api/ingest"));
            return JsonSerializer.Deserialize<Dictionary<string, long>>(json)!;
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill();
            }
            await _process.WaitForExitAsync();
            _process.Dispose();
        }
    }
}

/// <summary>One run of one tier: medians over its measured rounds, and what went wrong, if anything.</summary>
internal sealed record ScaleRun
{
    public int Run { get; init; }
    public int Collectors { get; init; }
    public double EventsPerSecond { get; init; }
    public double ClientUs { get; init; }
    public double CollectorsUs { get; init; }
    public double DatabaseUs { get; init; }
    public IReadOnlyDictionary<string, long> FailedCalls { get; init; } = new Dictionary<string, long>();
    public long Conflicts { get; init; }
    public long Refused { get; init; }
    public long DuplicateAcks { get; init; }
    public long StoreFailures { get; init; }
    public long RefusedByCollectors { get; init; }
    public bool StoredExactly { get; init; }
    public string Stored { get; init; } = "";
    public string LoadAverage { get; init; } = "";

    public long Failed => FailedCalls.Values.Sum();

    public string Line() => string.Create(CultureInfo.InvariantCulture,
        $"run {Run}, {Collectors} collector(s): {EventsPerSecond:N0} events/s; CPU/event: client {ClientUs:F2} us, collectors {CollectorsUs:F2} us, " +
        $"PostgreSQL {DatabaseUs:F2} us; failed calls {Failed}{(Failed > 0 ? " (" + string.Join(", ", FailedCalls.Select(f => $"{f.Key} {f.Value}")) + ")" : "")}, " +
        $"conflicts {Conflicts}, refused {Refused}, duplicate acks {DuplicateAcks}, store failures {StoreFailures}, refused by the collectors {RefusedByCollectors}; " +
        $"stored {Stored}{(StoredExactly ? ", each once" : ", NOT AS SENT")}; load average {LoadAverage}");
}

/// <summary>The table of a <c>collector-scale</c> run: per tier, the median of the runs' medians and their spread.</summary>
internal static class ScaleSummary
{
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0)
        {
            throw new ArgumentException("no values", nameof(values));
        }
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>
    /// One row per tier: events/s (median of the runs, and min–max), CPU per event of each tier and in all, the
    /// events one core of each would carry (10^6 / its µs per event), and every failed, refused or conflicting call.
    /// </summary>
    public static string Markdown(IReadOnlyList<ScaleRun> runs)
    {
        var text = new System.Text.StringBuilder();
        text.AppendLine("| collectors | runs | events/s median | events/s min–max | client µs/event | collectors µs/event | PostgreSQL µs/event | total µs/event | events/s per collector core | events/s per PostgreSQL core | failed calls (retried) | refused or conflicting calls | refusals counted by the collectors | duplicate acks | store failures | stored exactly once |");
        text.AppendLine("|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var tier in runs.GroupBy(r => r.Collectors).OrderBy(g => g.Key))
        {
            var r = tier.ToList();
            double client = Median(r.Select(x => x.ClientUs));
            double collectors = Median(r.Select(x => x.CollectorsUs));
            double database = Median(r.Select(x => x.DatabaseUs));
            text.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {tier.Key} | {r.Count} | {Median(r.Select(x => x.EventsPerSecond)):N0} | {r.Min(x => x.EventsPerSecond):N0}–{r.Max(x => x.EventsPerSecond):N0} " +
                $"| {client:F2} | {collectors:F2} | {database:F2} | {Median(r.Select(x => x.ClientUs + x.CollectorsUs + x.DatabaseUs)):F2} " +
                $"| {1e6 / collectors:N0} | {1e6 / database:N0} " +
                $"| {r.Sum(x => x.Failed)} | {r.Sum(x => x.Refused + x.Conflicts)} | {r.Sum(x => x.RefusedByCollectors)} | {r.Sum(x => x.DuplicateAcks)} | {r.Sum(x => x.StoreFailures)} " +
                $"| {(r.All(x => x.StoredExactly) ? "yes" : "NO")} |"));
        }
        return text.ToString();
    }
}
