using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Grpc.Net.Client;
using Microsoft.Data.Sqlite;
using Npgsql;
using Sluice.Benchmarks.Collector;
using Sluice.Collector.Auth;
using Sluice.Testing;

namespace Sluice.Benchmarks.Fleet;

/// <summary>
/// <c>fleet</c>: a fleet of simulated agents against one real <c>sluice-collector serve</c> (a process of its own, on
/// loopback) with a fresh SQLite or PostgreSQL store, for a fixed time (see <see cref="FleetOptions"/> and README.md,
/// "Collector under a fleet"). Reports what was stored and how fast, acknowledgement latency, how far behind schedule
/// the agents were at the stop, the acks that paced them, the collector's and the database's CPU per batch and per
/// event, the collector's RSS per connection, failed and refused calls (and whether any failed for lack of resources),
/// the dashboard's <c>/api/fleet</c> latency during the run; then checks in the store that every agent's sequences are
/// exactly 1..its last acknowledged one.
/// </summary>
internal static class FleetMeasurement
{
    public static int Run(string[] args)
    {
        FleetOptions options;
        try
        {
            options = FleetOptions.Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"fleet: {e.Message}");
            Console.Error.WriteLine(FleetOptions.Usage);
            return 2;
        }
        return RunAsync(options).GetAwaiter().GetResult();
    }

    private static string LoadAverage() => string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));

    private static async Task<int> RunAsync(FleetOptions options)
    {
        RaiseOpenFileLimit(options.Connections * 2L + 1024);
        var payloads = FleetPayloads.Load(Math.Max(4096, options.BurstSize * 2));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"fleet: corpus of {payloads.CorpusEvents} events ({payloads.ExecEvents} execve, the longest {payloads.LongestExecBytes:N0} bytes encoded), laid out as {payloads.Count:N0} entries in {payloads.TotalBytes / 1048576.0:F1} MiB shared by every agent"));
        await using var stores = new CollectorStores();
        string location = await stores.LocationAsync(options.Store);
        string dir = Directory.CreateTempSubdirectory("sluice-bench-fleet-").FullName;
        string tokens = Path.Combine(dir, "tokens");
        var ids = Enumerable.Range(1, options.Agents).Select(i => $"fleet-{i:D5}").ToArray();
        await File.WriteAllTextAsync(tokens, string.Concat(ids.Append(WarmUpAgent).Select(id => AgentTokens.HashedLine(id, Token(id)) + "\n")));
        File.SetUnixFileMode(tokens, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await using var collector = FleetCollector.Start(location, tokens, options.CollectorArgs);
        var channels = new List<GrpcChannel>();
        try
        {
            string url = await collector.ListeningAsync();
            for (int c = 0; c < options.Connections; c++)
            {
                channels.Add(GrpcChannel.ForAddress(url, new GrpcChannelOptions
                {
                    // One HTTP/2 connection per channel, kept for the whole run, as an agent keeps its own.
                    // The agent's handler settings (src/Sluice.Agent/Shipping/CollectorChannel.cs), but one connection per channel.
                    HttpHandler = new SocketsHttpHandler
                    {
                        ConnectTimeout = TimeSpan.FromSeconds(5),
                        KeepAlivePingDelay = TimeSpan.FromSeconds(30),
                        KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
                        KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
                        EnableMultipleHttp2Connections = false,
                        PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
                        PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
                    },
                    DisposeHttpClient = true,
                }));
            }
            var invokers = channels.Select(c => c.CreateCallInvoker()).ToArray();
            var counters = new FleetCounters();
            var agents = ids.Select((id, i) => new FleetAgent(id, Token(id), invokers[i % invokers.Length], payloads, options, counters, seed: i + 1, startMs: options.StartMs(i))).ToArray();
            // Idle: warmed up (its code compiled, its store's caches filled) by one agent on one connection, which is then let go.
            long idleRss;
            var warmUp = new FleetAgent(WarmUpAgent, Token(WarmUpAgent), channels[0].CreateCallInvoker(), payloads, options with { BurstEvery = 0 }, counters, seed: 0);
            {
                await warmUp.SendBatchesAsync(WarmUpBatches);
                using var http = new HttpClient();
                await http.GetStringAsync(new Uri(new Uri(url), "/api/fleet"));
                await Task.Delay(TimeSpan.FromSeconds(2));
                idleRss = ProcRss(collector.Pid);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"fleet: warmed up with {WarmUpBatches} batches of one agent; collector RSS {idleRss / 1048576.0:F0} MiB"));
            }

            string loadBefore = LoadAverage();
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            var self = Process.GetCurrentProcess();
            var client0 = self.TotalProcessorTime;
            var collector0 = CollectorGrpcMeasurement.ProcessCpu(collector.Pid);
            var db0 = stores.DatabaseCpuTime();
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(options.Seconds));
            using var grace = new CancellationTokenSource();
            long start = Stopwatch.GetTimestamp();
            var heartbeats = agents.Select(a => a.RunHeartbeatsAsync(stop.Token)).ToArray();
            var batches = agents.Select(a => a.RunBatchesAsync(start, stop.Token, grace.Token)).ToArray();
            var polls = PollFleetViewAsync(url, options.FleetPollSeconds, stop.Token);
            long peakRss = 0, loadedRss = 0;
            while (!stop.IsCancellationRequested)
            {
                await Task.Delay(1000);
                loadedRss = ProcRss(collector.Pid);
                peakRss = Math.Max(peakRss, loadedRss);
            }
            // Every call in flight finishes (the exactly-once check counts on it), within a generous bound.
            grace.CancelAfter(TimeSpan.FromMinutes(2));
            await Task.WhenAll(batches);
            double elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
            var collectorCpu = CollectorGrpcMeasurement.ProcessCpu(collector.Pid) - collector0;
            var dbCpu = stores.DatabaseCpuTime() - db0;
            self.Refresh();
            var clientCpu = self.TotalProcessorTime - client0;
            await Task.WhenAll(heartbeats);
            var fleetView = await polls;
            string loadAfter = LoadAverage();

            // The fleet view again with the load gone (connections still open): what the query itself costs at this many agents.
            double quietFleetViewMs;
            {
                using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(2) };
                long t = Stopwatch.GetTimestamp();
                await http.GetStringAsync(new Uri(new Uri(url), "/api/fleet"));
                quietFleetViewMs = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
            }

            var lastAcked = agents.Append(warmUp).ToDictionary(a => a.Id, a => a.LastAcked, StringComparer.Ordinal);
            var (stored, storedEvents) = await StoredAsync(location);
            var unfinished = agents.Where(a => a.Unfinished > 0).ToDictionary(a => a.Id, a => a.Unfinished, StringComparer.Ordinal);
            var problems = FleetVerifier.Check(lastAcked, stored, unfinished);
            long ackedEvents = agents.Sum(a => a.EventsAcked);
            long ackedWithWarmUp = ackedEvents + warmUp.EventsAcked;
            long refused = counters.Refused.Values.Sum();
            bool exactly = problems.Count == 0 && (refused > 0 || unfinished.Count > 0 || storedEvents == ackedWithWarmUp);
            var report = new FleetReport
            {
                Options = options,
                ElapsedSeconds = elapsed,
                BatchesAcked = agents.Sum(a => a.LatencyMs.Count),
                EventsAcked = ackedEvents,
                HeartbeatsAnswered = counters.Heartbeats,
                DuplicateAcks = counters.DuplicateAcks,
                AckLatencyMs = [.. agents.SelectMany(a => a.LatencyMs).Select(l => (double)l)],
                FinalLagMs = [.. agents.Select(a => a.FinalLagMs)],
                PacedAcks = agents.Sum(a => a.PacedAcks),
                PaceAskedMs = [.. agents.SelectMany(a => a.PaceAskedMs).Select(p => (double)p)],
                DeferredBatches = agents.Sum(a => a.DeferredBatches),
                CollectorCpuSeconds = collectorCpu.TotalSeconds,
                DatabaseCpuSeconds = dbCpu.TotalSeconds,
                ClientCpuSeconds = clientCpu.TotalSeconds,
                CollectorIdleRssBytes = idleRss,
                CollectorLoadedRssBytes = loadedRss,
                CollectorPeakRssBytes = peakRss,
                FailedCalls = counters.Failed.ToDictionary(f => f.Key.ToString(), f => f.Value),
                RefusedCalls = counters.Refused.ToDictionary(f => f.Key.ToString(), f => f.Value),
                FleetViewMs = fleetView,
                QuietFleetViewMs = quietFleetViewMs,
                StoredExactlyOnce = exactly,
                StoredCheck = (exactly ? "yes" : "NO") + string.Create(CultureInfo.InvariantCulture,
                    $": {stored.Values.Sum(s => s.Count):N0} batches of {stored.Count:N0} agents stored, {lastAcked.Values.Sum():N0} acknowledged; {storedEvents:N0} events stored, {ackedWithWarmUp:N0} acknowledged (the warm-up agent's included)") +
                    (unfinished.Count == 0 ? "" : $"; {unfinished.Count:N0} batches still unanswered 2 minutes after the stop, each stored once or not at all") +
                    (problems.Count == 0 ? "" : "; " + string.Join("; ", problems.Take(10)) + (problems.Count > 10 ? $"; ... {problems.Count} in all" : "")),
                LoadBefore = loadBefore,
                LoadAfter = loadAfter,
            };
            Console.Write(report.Text());
            foreach (var (code, detail) in counters.FirstDetail.OrderBy(d => d.Key))
            {
                Console.WriteLine($"  first {code}: {detail}");
            }
            Console.WriteLine($"  collector /api/ingest: {await collector.IngestCountersAsync()}");
            return exactly ? 0 : 1;
        }
        finally
        {
            channels.ForEach(c => c.Dispose());
            Directory.Delete(dir, recursive: true);
        }
    }

    private const string WarmUpAgent = "fleet-warmup";
    private const int WarmUpBatches = 200;

    private static string Token(string agentId) => "fleet-token-" + agentId + "-0123456789abcdef";

    /// <summary><c>GET /api/fleet</c> every few seconds while the run lasts (loopback: no dashboard token needed); each answer's time in ms.</summary>
    private static async Task<List<double>> PollFleetViewAsync(string url, int everySeconds, CancellationToken stop)
    {
        var times = new List<double>();
        if (everySeconds == 0)
        {
            return times;
        }
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        var uri = new Uri(new Uri(url), "/api/fleet");
        try
        {
            while (true)
            {
                await Task.Delay(TimeSpan.FromSeconds(everySeconds), stop);
                long t0 = Stopwatch.GetTimestamp();
                try
                {
                    using var response = await http.GetAsync(uri, CancellationToken.None);
                    await response.Content.ReadAsByteArrayAsync(CancellationToken.None);
                    times.Add(response.IsSuccessStatusCode ? Stopwatch.GetElapsedTime(t0).TotalMilliseconds : double.PositiveInfinity);
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    times.Add(double.PositiveInfinity);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        return times;
    }

    /// <summary>Every stored batch's sequence, per agent id; and the events stored.</summary>
    private static async Task<(Dictionary<string, List<long>> Batches, long Events)> StoredAsync(string location)
    {
        const string Batches = "SELECT a.agent_id, b.sequence FROM batches b JOIN agents a ON a.id = b.agent";
        const string Events = "SELECT count(*) FROM events";
        var result = new Dictionary<string, List<long>>(StringComparer.Ordinal);
        long events;
        if (location.StartsWith("postgres:", StringComparison.Ordinal))
        {
            await using var connection = new NpgsqlConnection(location["postgres:".Length..]);
            await connection.OpenAsync();
            await using (var reader = await new NpgsqlCommand(Batches, connection).ExecuteReaderAsync())
            {
                while (await reader.ReadAsync())
                {
                    Add(result, reader.GetString(0), reader.GetInt64(1));
                }
            }
            events = (long)(await new NpgsqlCommand(Events, connection).ExecuteScalarAsync())!;
        }
        else
        {
            await using var connection = new SqliteConnection($"Data Source={location["sqlite:".Length..]};Mode=ReadOnly");
            await connection.OpenAsync();
            await using var batches = connection.CreateCommand();
            batches.CommandText = Batches;
            await using (var reader = await batches.ExecuteReaderAsync())
            {
                while (await reader.ReadAsync())
                {
                    Add(result, reader.GetString(0), reader.GetInt64(1));
                }
            }
            await using var count = connection.CreateCommand();
            count.CommandText = Events;
            events = (long)(await count.ExecuteScalarAsync())!;
        }
        return (result, events);

        static void Add(Dictionary<string, List<long>> into, string agent, long sequence)
        {
            if (!into.TryGetValue(agent, out var list))
            {
                into[agent] = list = [];
            }
            list.Add(sequence);
        }
    }

    /// <summary>VmRSS of a process, in bytes, from /proc.</summary>
    internal static long ProcRss(int pid)
    {
        foreach (string line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
            }
        }
        throw new InvalidOperationException($"no VmRSS in /proc/{pid}/status");
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Current;
        public ulong Max;
    }

    [DllImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
    private static extern int GetRLimit(int resource, out RLimit limit);

    [DllImport("libc", EntryPoint = "setrlimit", SetLastError = true)]
    private static extern int SetRLimit(int resource, ref RLimit limit);

    /// <summary>RLIMIT_NOFILE's soft limit up to what the run needs (the collector, a child, inherits it), within the hard limit.</summary>
    private static void RaiseOpenFileLimit(long needed)
    {
        const int RLIMIT_NOFILE = 7;
        if (GetRLimit(RLIMIT_NOFILE, out var limit) != 0 || limit.Current >= (ulong)needed)
        {
            return;
        }
        limit.Current = Math.Min((ulong)needed, limit.Max);
        if (SetRLimit(RLIMIT_NOFILE, ref limit) != 0 || limit.Current < (ulong)needed)
        {
            Console.Error.WriteLine($"fleet: open files limited to {limit.Current} (hard limit {limit.Max}), {needed} wanted: raise the hard limit (ulimit -Hn) for this many connections");
        }
    }
}

/// <summary>The real <c>sluice-collector serve</c> in a child process (its own runtime settings: server GC), on a free loopback port.</summary>
internal sealed class FleetCollector : IAsyncDisposable
{
    private readonly Process _process;
    private readonly TaskCompletionSource<string> _url = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private FleetCollector(Process process)
    {
        _process = process;
        _ = ReadAsync();
    }

    public int Pid => _process.Id;

    public static FleetCollector Start(string location, string tokens, IEnumerable<string> extra)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList =
            {
                Path.Combine(AppContext.BaseDirectory, "sluice-collector.dll"), "serve",
                "--listen", "127.0.0.1:0", "--store", location, "--tokens", tokens,
            },
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (string arg in extra)
        {
            start.ArgumentList.Add(arg);
        }
        return new(Process.Start(start)!);
    }

    public Task<string> ListeningAsync() => _url.Task.WaitAsync(TimeSpan.FromMinutes(3));

    private async Task ReadAsync()
    {
        string? line;
        int shown = 0;
        int more = 0;
        while ((line = await _process.StandardOutput.ReadLineAsync()) is not null)
        {
            if (!_url.Task.IsCompleted && line.StartsWith("sluice-collector: listening on ", StringComparison.Ordinal))
            {
                _url.TrySetResult(line.Split(' ')[3]);
            }
            else if (line.StartsWith("fail:", StringComparison.Ordinal) || line.StartsWith("crit:", StringComparison.Ordinal) || line.StartsWith("warn:", StringComparison.Ordinal))
            {
                // The first few in full (the message is on the lines after), then counted.
                more = ++shown <= 10 ? 3 : 0;
                if (shown == 11)
                {
                    Console.Error.WriteLine($"collector {_process.Id}: more warnings and errors follow, not shown");
                }
            }
            if (more > 0)
            {
                more--;
                Console.Error.WriteLine($"collector {_process.Id}: {line}");
            }
        }
        _url.TrySetException(new InvalidOperationException($"the collector (pid {_process.Id}) exited before it listened"));
    }

    /// <summary>Its <c>/api/ingest</c> counters, as it answers them.</summary>
    public async Task<string> IngestCountersAsync()
    {
        using var http = new HttpClient();
        return (await http.GetStringAsync(new Uri(new Uri(await ListeningAsync()), "/api/ingest"))).Trim();
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
