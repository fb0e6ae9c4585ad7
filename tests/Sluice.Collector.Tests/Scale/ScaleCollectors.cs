using System.Text.Json.Nodes;
using Sluice.Collector.Tests.Support;
using Sluice.Testing;

namespace Sluice.Collector.Tests.Scale;

/// <summary>
/// Real <c>sluice-collector serve</c> processes on one PostgreSQL database, each on a fixed loopback port
/// (so that one killed can come back where the agents look for it), with one token file for all:
/// collectors in front of one store must share the agents' tokens and groups, or they would disagree
/// on who may send and which group's policy applies.
/// </summary>
internal sealed class ScaleCollectors : IDisposable
{
    private readonly string _dir;
    private readonly CollectorProcess?[] _processes;

    public ScaleCollectors(string store, int count, IEnumerable<(string Agent, string Token)> agents)
    {
        Store = store;
        _dir = Directory.CreateTempSubdirectory("sluice-scale-").FullName;
        TokensFile = Path.Combine(_dir, "tokens");
        PrivateFile.Write(TokensFile, string.Concat(agents.Select(a => $"{a.Agent} {a.Token}\n")));
        Ports = [.. Enumerable.Range(0, count).Select(_ => LoopbackPort.Free())];
        _processes = new CollectorProcess?[count];
    }

    public string Store { get; }
    public string TokensFile { get; }
    public int[] Ports { get; }

    public IReadOnlyList<Uri> Urls => [.. Ports.Select(p => new Uri($"http://127.0.0.1:{p}"))];

    public CollectorProcess this[int i] => _processes[i] ?? throw new InvalidOperationException($"collector {i} is not running");

    /// <summary>Starts every collector at once and waits until each listens.</summary>
    public async Task StartAllAsync()
    {
        for (int i = 0; i < _processes.Length; i++)
        {
            _processes[i] = Start(i);
        }
        await Task.WhenAll(_processes.Select(p => p!.ListeningAsync(TimeSpan.FromMinutes(3))));
    }

    /// <summary>SIGKILL (<see cref="System.Diagnostics.Process.Kill()"/> sends it on Linux): no shutdown, calls in flight cut.</summary>
    public void Kill(int i)
    {
        _processes[i]?.Dispose();
        _processes[i] = null;
    }

    /// <summary>Starts collector <paramref name="i"/> again on its port; tries again while the port is still taken by the one killed.</summary>
    public async Task RestartAsync(int i)
    {
        for (int attempt = 1; ; attempt++)
        {
            var process = Start(i);
            try
            {
                await process.ListeningAsync(TimeSpan.FromMinutes(3));
                _processes[i] = process;
                return;
            }
            catch (InvalidOperationException) when (attempt < 20 && process.Output.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
            {
                process.Dispose();
                await Task.Delay(TimeSpan.FromSeconds(1));
            }
        }
    }

    private CollectorProcess Start(int i) => CollectorProcess.Start(
        ["serve", "--listen", $"127.0.0.1:{Ports[i]}", "--store", Store, "--tokens", TokensFile]);

    /// <summary><c>GET PATH</c> from collector <paramref name="i"/>'s dashboard API (loopback, no token: the default access).</summary>
    public async Task<string> GetAsync(int i, string pathAndQuery)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(2) };
        using var response = await http.GetAsync(new Uri(Urls[i], pathAndQuery));
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"collector {i} GET {pathAndQuery}: {(int)response.StatusCode} {body}");
        return body;
    }

    /// <summary>The answer without what only says when it was made (<c>generated_at</c>, <c>generated_at_unix_ms</c>), to compare answers made at different moments.</summary>
    public static string WithoutGenerationTime(string json)
    {
        var node = JsonNode.Parse(json)!;
        Strip(node);
        return node.ToJsonString();

        static void Strip(JsonNode? n)
        {
            switch (n)
            {
                case JsonObject o:
                    foreach (var key in o.Select(p => p.Key).Where(k => k.StartsWith("generated_at", StringComparison.Ordinal)).ToList())
                    {
                        o.Remove(key);
                    }
                    foreach (var (_, child) in o)
                    {
                        Strip(child);
                    }
                    break;
                case JsonArray a:
                    foreach (var child in a)
                    {
                        Strip(child);
                    }
                    break;
            }
        }
    }

    /// <summary>Each collector's output so far, for a failure's message.</summary>
    public string Outputs() => string.Join("\n", _processes.Select((p, i) => $"--- collector {i}:\n{p?.Output ?? "(not running)"}"));

    public void Dispose()
    {
        foreach (var p in _processes)
        {
            p?.Dispose();
        }
        Directory.Delete(_dir, recursive: true);
    }
}
