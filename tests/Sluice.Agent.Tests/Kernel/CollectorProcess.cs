using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace Sluice.Agent.Tests.Kernel;

/// <summary>A real <c>sluice-collector serve</c> on 127.0.0.1 with one enrolled agent, for end-to-end tests.</summary>
internal sealed class CollectorProcess : IDisposable
{
    private readonly Process _process;

    private CollectorProcess(Process process, int port, string store)
    {
        _process = process;
        Port = port;
        Store = store;
    }

    public int Port { get; }

    /// <summary>The --store value.</summary>
    public string Store { get; }

    public static string Dll => Path.Combine(AppContext.BaseDirectory, "sluice-collector.dll");

    /// <summary>Starts the collector with <paramref name="agentId"/> enrolled under <paramref name="token"/>, and waits until it listens.</summary>
    public static CollectorProcess Start(string dir, string store, string agentId, string token)
    {
        string tokens = Path.Combine(dir, "tokens");
        File.WriteAllText(tokens, $"{agentId} {token}\n");
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        var psi = new ProcessStartInfo("dotnet", $"{Dll} serve --listen 127.0.0.1:{port} --store {store} --tokens {tokens}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var process = Process.Start(psi)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var collector = new CollectorProcess(process, port, store);
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(60))
        {
            try
            {
                using var client = new TcpClient();
                client.Connect(IPAddress.Loopback, port);
                return collector;
            }
            catch (SocketException)
            {
                Assert.False(process.HasExited, "sluice-collector exited at start");
                Thread.Sleep(100);
            }
        }
        collector.Dispose();
        throw new TimeoutException("sluice-collector did not listen");
    }

    /// <summary>The agent's Collector sink settings for this collector (JSON members of agent.json).</summary>
    public string SinkConfig(string dir, string agentId, string token) => $$"""
        "AgentId": "{{agentId}}",
        "Sink": { "Type": "Collector" },
        "Spool": { "Directory": "{{dir}}/spool" },
        "Shipping": { "CollectorUrl": "http://127.0.0.1:{{Port}}", "Token": "{{token}}", "AllowInsecureTransport": true, "QuarantineDirectory": "{{dir}}/quarantine" }
        """;

    /// <summary>Every stored event, through <c>sluice-collector export</c>.</summary>
    public List<JsonElement> Export()
    {
        var (code, output) = AgentProcess.RunTool("dotnet", $"{Dll} export --store {Store}");
        Assert.True(code == 0, output);
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(l => l.StartsWith('{'))
            .Select(l => JsonDocument.Parse(l).RootElement.Clone())
            .ToList();
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
        _process.Dispose();
    }
}
