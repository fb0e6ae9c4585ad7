using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Sluice.Agent.Monitoring;
using Sluice.Agent.Status;

namespace Sluice.Agent.Tests;

/// <summary>
/// Runs <c>sluice-agent run</c> as a real process in a temporary directory (config, state,
/// sink, status socket), waits for it through its status socket, and stops it with a signal.
/// </summary>
internal sealed class AgentRunner : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private AgentRunner(string dir, Process process)
    {
        Directory = dir;
        _process = process;
        process.OutputDataReceived += (_, e) => { lock (_output) { _output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (_output) { _output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public string Directory { get; }

    public int Pid => _process.Id;

    public string SinkPath => Path.Combine(Directory, "events.jsonl");

    public string SocketPath => Path.Combine(Directory, "agent.sock");

    public string StateDirectory => Path.Combine(Directory, "state");

    public string Output { get { lock (_output) { return _output.ToString(); } } }

    /// <summary>Writes the config (defaults for the temp dir, plus <paramref name="extra"/> keys) and the rules, and starts the agent.</summary>
    public static AgentRunner Start(string rules, string extraJson = "", Dictionary<string, string>? env = null) =>
        Start(rules, _ => extraJson, env);

    /// <summary>As <see cref="Start(string, string, Dictionary{string, string}?)"/>, with extra keys that name paths in the agent's directory.</summary>
    public static AgentRunner Start(string rules, Func<string, string> extraJson, Dictionary<string, string>? env = null)
    {
        string dir = Path.Combine(Path.GetTempPath(), "sluice-agent-test-" + Guid.NewGuid().ToString("N")[..8]);
        System.IO.Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "audit.rules"), rules);
        File.WriteAllText(Path.Combine(dir, "agent.json"), Config(dir, extraJson(dir)));
        return StartIn(dir, env);
    }

    /// <summary>Starts the agent again on the config, state and spool of an earlier run in <paramref name="dir"/> (a restart after a crash).</summary>
    public static AgentRunner StartIn(string dir, Dictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(AgentProcess.ExePath, $"run --config {Path.Combine(dir, "agent.json")}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (k, v) in env ?? new())
        {
            psi.Environment[k] = v;
        }
        return new AgentRunner(dir, Process.Start(psi)!);
    }

    public static string Config(string dir, string extraJson) => $$"""
        {
          "StateDirectory": "{{dir}}/state",
          "Rules": { "Files": [ "{{dir}}/audit.rules" ] },
          {{(extraJson.Contains("\"Sink\"") ? "" : $"\"Sink\": {{ \"Type\": \"JsonLines\", \"Path\": \"{dir}/events.jsonl\" }},")}}
          "Status": { "Socket": "{{dir}}/agent.sock" }{{(extraJson.Length > 0 ? "," : "")}}
          {{extraJson}}
        }
        """;

    /// <summary>Waits until the agent answers on its status socket (it has taken over and is draining).</summary>
    public MetricsSnapshot WaitReady(TimeSpan? timeout = null)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < (timeout ?? TimeSpan.FromSeconds(60)))
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"the agent exited with {_process.ExitCode} before it was ready:\n{Output}");
            }
            if (StatusServer.Query(SocketPath, TimeSpan.FromSeconds(1)) is { } m)
            {
                return m;
            }
            Thread.Sleep(50);
        }
        throw new TimeoutException($"the agent did not become ready:\n{Output}");
    }

    public MetricsSnapshot Metrics() => StatusServer.Query(SocketPath, TimeSpan.FromSeconds(2))
        ?? throw new InvalidOperationException($"the agent does not answer on {SocketPath}:\n{Output}");

    /// <summary>Waits until <paramref name="done"/> holds for the agent's figures.</summary>
    public MetricsSnapshot WaitFor(Func<MetricsSnapshot, bool> done, TimeSpan timeout, string what)
    {
        var sw = Stopwatch.StartNew();
        MetricsSnapshot m = Metrics();
        while (!done(m))
        {
            if (sw.Elapsed > timeout)
            {
                throw new TimeoutException($"timed out waiting for {what}; last figures: {JsonSerializer.Serialize(m)}\n{Output}");
            }
            Thread.Sleep(100);
            m = Metrics();
        }
        return m;
    }

    /// <summary>
    /// Waits until the agent has written <paramref name="text"/> to stdout or stderr. The status
    /// socket can answer before a line logged at the same moment has passed through the pipe and
    /// the reader, so a log line is waited for, not read once.
    /// </summary>
    public string WaitForOutput(string text, TimeSpan? timeout = null)
    {
        var sw = Stopwatch.StartNew();
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            if (sw.Elapsed > (timeout ?? TimeSpan.FromSeconds(30)))
            {
                throw new TimeoutException($"the agent did not write \"{text}\":\n{Output}");
            }
            Thread.Sleep(50);
        }
        return Output;
    }

    /// <summary>The sink's events as JSON documents.</summary>
    public List<JsonElement> Events()
    {
        if (!File.Exists(SinkPath))
        {
            return [];
        }
        using var stream = new FileStream(SinkPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        var list = new List<JsonElement>();
        while (reader.ReadLine() is { } line)
        {
            if (line.Length > 0 && line.EndsWith('}'))
            {
                list.Add(JsonDocument.Parse(line).RootElement.Clone());
            }
        }
        return list;
    }

    /// <summary>SIGTERM (as `service auditd stop` would send), then waits for a clean exit.</summary>
    public int Stop(TimeSpan? timeout = null)
    {
        if (!_process.HasExited)
        {
            Tmds.Linux.LibC.kill(_process.Id, Tmds.Linux.LibC.SIGTERM);
        }
        if (!_process.WaitForExit(timeout ?? TimeSpan.FromSeconds(120)))
        {
            throw new TimeoutException($"the agent did not stop after SIGTERM:\n{Output}");
        }
        _process.WaitForExit();
        return _process.ExitCode;
    }

    /// <summary>Waits for the agent to exit by itself (a refused start).</summary>
    public int WaitExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            throw new TimeoutException($"the agent kept running:\n{Output}");
        }
        _process.WaitForExit();
        return _process.ExitCode;
    }

    public void Kill()
    {
        Tmds.Linux.LibC.kill(_process.Id, Tmds.Linux.LibC.SIGKILL);
        _process.WaitForExit();
    }

    private bool _disposed;

    /// <summary>Stops the agent if it still runs. May be called more than once (a test's own cleanup and its fixture's).</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        if (!_process.HasExited)
        {
            Stop();
        }
        _process.Dispose();
    }
}
