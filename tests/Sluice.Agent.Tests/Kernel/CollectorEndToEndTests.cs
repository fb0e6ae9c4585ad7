using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Sluice.Testing;

namespace Sluice.Agent.Tests.Kernel;

/// <summary>Kernel → agent → spool → gRPC → real sluice-collector → SQLite, read back with export.</summary>
[Collection(KernelAuditFixture.Collection)]
public sealed class CollectorEndToEndTests : IDisposable
{
    private readonly KernelStateGuard _guard = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-e2e-").FullName;
    private Process? _collector;

    public void Dispose()
    {
        if (_collector is { HasExited: false })
        {
            _collector.Kill(entireProcessTree: true);
            _collector.WaitForExit();
        }
        _collector?.Dispose();
        _guard.Dispose();
    }

    private static string CollectorDll => Path.Combine(AppContext.BaseDirectory, "sluice-collector.dll");

    private int StartCollector(string store)
    {
        File.WriteAllText(Path.Combine(_dir, "tokens"), "e2e-agent e2e-secret-token\n");
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        var psi = new ProcessStartInfo("dotnet", $"{CollectorDll} serve --listen 127.0.0.1:{port} --store {store} --tokens {Path.Combine(_dir, "tokens")}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        _collector = Process.Start(psi)!;
        _collector.OutputDataReceived += (_, _) => { };
        _collector.ErrorDataReceived += (_, _) => { };
        _collector.BeginOutputReadLine();
        _collector.BeginErrorReadLine();
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(60))
        {
            try
            {
                using var client = new TcpClient();
                client.Connect(IPAddress.Loopback, port);
                return port;
            }
            catch (SocketException)
            {
                Assert.False(_collector.HasExited, "sluice-collector exited at start");
                Thread.Sleep(100);
            }
        }
        throw new TimeoutException("sluice-collector did not listen");
    }

    private static List<JsonElement> Export(string store)
    {
        var (code, output) = AgentProcess.RunTool("dotnet", $"{CollectorDll} export --store {store}");
        Assert.True(code == 0, output);
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(l => l.StartsWith('{'))
            .Select(l => JsonDocument.Parse(l).RootElement.Clone())
            .ToList();
    }

    private static bool IsOurs(JsonElement e, string key, Dictionary<int, string[]> expected) =>
        e.TryGetProperty("key", out var k) && k.GetString() == key
        && e.TryGetProperty("pid", out var pid) && expected.ContainsKey(pid.GetInt32());

    [Fact]
    public void ExecsUnderLoad_DeliveredToCollector_EachStoredOnceWithExactArgv()
    {
        string store = "sqlite:" + Path.Combine(_dir, "events.db");
        int port = StartCollector(store);
        string key = TestRules.UniqueKey("e2e");
        string extra = $$"""
            "AgentId": "e2e-agent",
            "Sink": { "Type": "Collector" },
            "Spool": { "Directory": "{{_dir}}/spool" },
            "Shipping": { "CollectorUrl": "http://127.0.0.1:{{port}}", "Token": "e2e-secret-token", "AllowInsecureTransport": true, "QuarantineDirectory": "{{_dir}}/quarantine" },
            "Batching": { "MaxDelay": "00:00:00.200" }
            """;
        using var agent = AgentRunner.Start($"-a always,exit -F arch=b64 -S execve -F key={key}\n", extra);
        agent.WaitReady();

        const int n = 25;
        var expected = new Dictionary<int, string[]>();
        for (int i = 0; i < n; i++)
        {
            string[] argv = ["/bin/true", $"e2e-{i}", "sp ace", "q\"uote", "tab\t", "ünï", new string('x', 100 * i)];
            var psi = new ProcessStartInfo(argv[0]);
            foreach (var a in argv[1..])
            {
                psi.ArgumentList.Add(a);
            }
            using var p = Process.Start(psi)!;
            expected[p.Id] = argv;
            p.WaitForExit();
        }

        var sw = Stopwatch.StartNew();
        List<JsonElement> ours = [];
        while (sw.Elapsed < TimeSpan.FromSeconds(60))
        {
            ours = Export(store).Where(e => IsOurs(e, key, expected)).ToList();
            if (ours.Count >= n)
            {
                break;
            }
            Thread.Sleep(250);
        }
        Assert.Equal(0, agent.Stop());

        // The rule sees every exec on the host (the export runs too); ours are our children.
        ours = Export(store).Where(e => IsOurs(e, key, expected)).ToList();
        Assert.Equal(n, ours.Count);
        Assert.Equal(n, ours.Select(e => e.GetProperty("serial").GetUInt64()).Distinct().Count());
        foreach (var e in ours)
        {
            int pid = e.GetProperty("pid").GetInt32();
            Assert.Equal(expected[pid], e.GetProperty("argv").EnumerateArray().Select(a => a.GetString()!).ToArray());
            Assert.Equal("e2e-agent", e.GetProperty("agent_id").GetString());
        }
    }
}
