using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Sluice.Protocol.Json;
using Sluice.Testing;

namespace Sluice.Agent.Tests.EndToEnd;

/// <summary>
/// The real <c>sluice-collector serve</c> as its own process, on 127.0.0.1 with an SQLite store in a
/// temp directory; it can be stopped and started again on the same port and store. Read back with
/// <c>export</c> and <c>stats --json</c>, as an operator would.
/// </summary>
internal sealed class CollectorProcess : IDisposable
{
    public const string AgentId = "e2e-agent";
    public const string Token = "e2e-secret-token-0123";

    private Process? _process;
    private readonly string? _store;
    private readonly StringBuilder _output = new();

    /// <param name="store">The collector's <c>--store</c>; null: SQLite in its temp directory.</param>
    public CollectorProcess(string? store = null)
    {
        _store = store;
        Directory = System.IO.Directory.CreateTempSubdirectory("sluice-e2e-").FullName;
        File.WriteAllText(Path.Combine(Directory, "tokens"), $"{AgentId} {Token}\n");
        // The collector refuses a token file that group or others can read.
        File.SetUnixFileMode(Path.Combine(Directory, "tokens"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Port = LoopbackPort.Free();
    }

    public string Directory { get; }

    public int Port { get; }

    public string Store => _store ?? "sqlite:" + Path.Combine(Directory, "events.db");

    public string Url => $"http://127.0.0.1:{Port}";

    public string Output { get { lock (_output) { return _output.ToString(); } } }

    public bool IsRunning => _process is { HasExited: false };

    private static string Dll => Path.Combine(AppContext.BaseDirectory, "sluice-collector.dll");

    /// <summary>Agent config keys that ship to this collector, with the spool and quarantine in <paramref name="agentDir"/>.</summary>
    public string AgentConfig(string agentDir, string shipping = "") => $$"""
        "AgentId": "{{AgentId}}",
        "Sink": { "Type": "Collector" },
        "Spool": { "Directory": "{{agentDir}}/spool" },
        "Shipping": { "CollectorUrl": "http://127.0.0.1:{{Port}}", "Token": "{{Token}}", "AllowInsecureTransport": true, "QuarantineDirectory": "{{agentDir}}/quarantine"{{shipping}} },
        "Batching": { "MaxDelay": "00:00:00.200" }
        """;

    /// <summary>Starts (or starts again) the collector on its port and store, and waits until it accepts connections.</summary>
    public void Start()
    {
        Assert.False(IsRunning, "the collector already runs");
        _process?.Dispose();
        // One argument each: a PostgreSQL connection string holds spaces ("Maximum Pool Size=32").
        var psi = new ProcessStartInfo("dotnet", [Dll, "serve", "--listen", $"127.0.0.1:{Port}", "--store", Store, "--tokens", Path.Combine(Directory, "tokens")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.Environment["DOTNET_NOLOGO"] = "1";
        var process = Process.Start(psi)!;
        process.OutputDataReceived += (_, e) => { lock (_output) { _output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (_output) { _output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(60))
        {
            try
            {
                using var client = new TcpClient();
                client.Connect(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException)
            {
                Assert.False(process.HasExited, "sluice-collector exited at start:\n" + Output);
                Thread.Sleep(100);
            }
        }
        throw new TimeoutException("sluice-collector did not listen:\n" + Output);
    }

    /// <summary>SIGTERM, as a service manager stops it, and waits for the exit.</summary>
    public void Stop()
    {
        if (_process is not { HasExited: false } p)
        {
            return;
        }
        Tmds.Linux.LibC.kill(p.Id, Tmds.Linux.LibC.SIGTERM);
        if (!p.WaitForExit(TimeSpan.FromSeconds(30)))
        {
            p.Kill(entireProcessTree: true);
        }
        p.WaitForExit();
    }

    /// <summary>SIGKILL, as a crash or the OOM killer ends it: calls in flight are cut, nothing is flushed.</summary>
    public void Kill()
    {
        if (_process is not { HasExited: false } p)
        {
            return;
        }
        Tmds.Linux.LibC.kill(p.Id, Tmds.Linux.LibC.SIGKILL);
        p.WaitForExit();
    }

    /// <summary>Every stored event, as <c>sluice-collector export</c> prints it.</summary>
    public List<JsonElement> Export()
    {
        var (code, output) = AgentProcess.RunTool("dotnet", $"{Dll} export --store {Store}");
        Assert.True(code == 0, output);
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(l => l.StartsWith('{'))
            .Select(l => JsonDocument.Parse(l).RootElement.Clone())
            .ToList();
    }

    /// <summary>This agent's line of <c>sluice-collector stats --json</c>.</summary>
    public JsonElement Stats()
    {
        var (code, output) = AgentProcess.RunTool("dotnet", $"{Dll} stats --store {Store} --json");
        Assert.True(code == 0, output);
        int start = output.IndexOf('{');
        using var doc = JsonDocument.Parse(output[start..]);
        return doc.RootElement.GetProperty("agents").EnumerateArray().Single(a => a.GetProperty("agent_id").GetString() == AgentId).Clone();
    }

    /// <summary>
    /// Polls the export until <paramref name="done"/> holds for it, or the timeout passes; returns the last export.
    /// Exports only once the store holds at least <paramref name="atLeast"/> events (a cheap count).
    /// </summary>
    public List<JsonElement> WaitForExport(Func<List<JsonElement>, bool> done, TimeSpan timeout, long atLeast = 0)
    {
        var sw = Stopwatch.StartNew();
        while (atLeast > 0 && sw.Elapsed < timeout && StoredEvents() < atLeast)
        {
            Thread.Sleep(500);
        }
        var events = Export();
        while (!done(events) && sw.Elapsed < timeout)
        {
            Thread.Sleep(500);
            events = Export();
        }
        return events;
    }

    private long StoredEvents()
    {
        var (code, output) = AgentProcess.RunTool("dotnet", $"{Dll} stats --store {Store} --json");
        if (code != 0)
        {
            return 0; // nothing stored yet
        }
        using var doc = JsonDocument.Parse(output[output.IndexOf('{')..]);
        return doc.RootElement.GetProperty("agents").EnumerateArray().Sum(a => a.GetProperty("events").GetInt64());
    }

    /// <summary>The exact bytes of a string the export wrote (non-UTF-8 bytes come as \udc80..\udcff: see ByteStringJson).</summary>
    public static byte[] Bytes(JsonElement s)
    {
        string raw = s.GetRawText();
        Assert.True(ByteStringJson.TryDecode(Encoding.UTF8.GetBytes(raw[1..^1]), out var bytes), $"not a byte string: {raw}");
        return bytes;
    }

    public void Dispose()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
        }
        _process?.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
