using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Data.Sqlite;
using Sluice.Agent.Status;
using Sluice.Testing;

namespace Sluice.Benchmarks.Harness;

/// <summary>
/// Sluice end to end: the built <c>sluice-agent run</c> with the Collector sink (spool, gRPC)
/// shipping to a real <c>sluice-collector serve</c> with a SQLite store on 127.0.0.1. The agent
/// loads the trial's rule from its own rules file. Delivered = events of the audited syscall with
/// the key stored at the collector. The agent runs with its defaults except paths, the sink, and the kernel's
/// backlog settings, which are the harness's (the same for every consumer). With
/// <paramref name="enrichmentOff"/> its process context (issue 19) is turned off in its agent.json;
/// otherwise the agent.json has no Enrichment section and the agent runs with its default.
/// </summary>
public sealed class SluiceConsumer(string agentPath, string collectorPath, bool enrichmentOff = false) : IConsumer
{
    private const string AgentId = "bench-agent";
    private const string Token = "bench-token-0123456789abcdef";

    private ChildProcess? _agent;
    private ChildProcess? _collector;
    private TrialContext? _trial;
    private string? _database;
    private string? _statusSocket;

    public string Name => enrichmentOff ? ComparisonReport.SluiceNoContext : ComparisonReport.Sluice;

    public IReadOnlyList<int> ConsumerPids => _agent is null ? [] : [_agent.Pid];

    public IReadOnlyList<int> CollectorPids => _collector is null ? [] : [_collector.Pid];

    /// <summary>Null when both executables exist; otherwise what is missing.</summary>
    public static string? Missing(string agentPath, string collectorPath) =>
        !File.Exists(agentPath) ? $"sluice-agent not found at {agentPath} (dotnet build -c Release src/Sluice.Agent, or pass --agent PATH)"
        : !File.Exists(collectorPath) ? $"sluice-collector not found at {collectorPath} (dotnet build -c Release src/Sluice.Collector, or pass --collector PATH)"
        : null;

    public void Start(TrialContext trial, CancellationToken cancel)
    {
        _trial = trial;
        string dir = Path.Combine(trial.Directory, "sluice");
        Directory.CreateDirectory(dir);
        _database = Path.Combine(dir, "events.db");
        _statusSocket = Path.Combine(dir, "agent.sock");
        File.WriteAllText(Path.Combine(dir, "tokens"), $"{AgentId} {Token}\n");
        // The collector refuses a token file that group or others can read.
        File.SetUnixFileMode(Path.Combine(dir, "tokens"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        int port = LoopbackPort.Free();
        _collector = ChildProcess.Start("sluice-collector", collectorPath,
            ["serve", "--listen", $"127.0.0.1:{port}", "--store", $"sqlite:{_database}", "--tokens", Path.Combine(dir, "tokens")]);
        WaitListening(_collector, port, cancel);

        File.WriteAllText(Path.Combine(dir, "audit.rules"), trial.RuleText + "\n");
        File.WriteAllText(Path.Combine(dir, "agent.json"), AgentConfig(dir, port, trial.BacklogLimit, trial.BacklogWaitTime, enrichmentOff));
        _agent = ChildProcess.Start("sluice-agent", agentPath, ["run", "--config", Path.Combine(dir, "agent.json")]);
        var sw = Stopwatch.StartNew();
        while (StatusServer.Query(_statusSocket, TimeSpan.FromSeconds(1)) is null
            || trial.Control.GetStatus().Pid != (uint)_agent.Pid
            || !ConsumerWait.RuleLoaded(trial.Control, trial.Rule))
        {
            // WaitForExit flushes the output readers, so the agent's last line is there.
            if (enrichmentOff && _agent.HasExited && _agent.WaitForExit(TimeSpan.FromSeconds(5)) && RefusedEnrichmentSection(_agent.Output))
            {
                throw new InvalidOperationException("sluice-agent refused \"Enrichment\": {\"Enabled\": false} (an agent built before issue 19 does not know the section): " +
                    "the enrichment-off variant needs an agent that has it.\nIts last output:\n" + _agent.Output);
            }
            _agent.ThrowIfExited("starting");
            cancel.ThrowIfCancellationRequested();
            if (sw.Elapsed > TimeSpan.FromSeconds(90))
            {
                throw new TimeoutException($"sluice-agent was not ready (status socket, consumer pid, rule) within 90 s; its last output:\n{_agent.Output}");
            }
            Thread.Sleep(100);
        }
    }

    public long Delivered()
    {
        if (_database is null || !File.Exists(_database) || _trial is null)
        {
            return 0;
        }
        try
        {
            using var connection = new SqliteConnection(new SqliteConnectionStringBuilder
            {
                DataSource = _database,
                Mode = SqliteOpenMode.ReadOnly,
                Pooling = false,
                DefaultTimeout = 5,
            }.ToString());
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT COUNT(*) FROM events WHERE key = $key AND syscall = $syscall";
            command.Parameters.AddWithValue("$key", _trial.Key);
            command.Parameters.AddWithValue("$syscall", _trial.Syscall);
            return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture);
        }
        catch (SqliteException e) when (e.SqliteErrorCode is 5 or 6 or 1)
        {
            // Busy, locked, or the schema not created yet: ask again on the next poll.
            return -1;
        }
    }

    /// <summary>The agent's own view (its status socket): loss it counted and how it sized itself.</summary>
    public string? Details()
    {
        if (_statusSocket is null || StatusServer.Query(_statusSocket, TimeSpan.FromSeconds(2)) is not { } m)
        {
            return "agent status unavailable";
        }
        return string.Create(CultureInfo.InvariantCulture,
            $"agent: events {m.Events}, kernel lost {m.KernelLost}, socket overruns {m.SocketOverruns}, serial gaps {m.SerialGaps}, " +
            $"evicted {m.ReassemblyEvicted}, spool dropped {m.SpoolDroppedEvents}; " +
            $"backlog_limit {m.BacklogLimit}, buffer {m.ReceiveBufferBytes / 1048576.0:0} MiB, interval {m.IntervalMs} ms{(m.Continuous ? " (continuous)" : "")}");
    }

    /// <summary>True when the agent's output says its configuration binder did not know the <c>Enrichment</c> section (an agent before issue 19).</summary>
    public static bool RefusedEnrichmentSection(string output) =>
        output.Contains("'Enrichment'", StringComparison.Ordinal) && output.Contains("not found", StringComparison.Ordinal);

    /// <summary>The agent's process table as <c>sluice-agent status --json</c> reports it; null when the agent has no such section or did not answer.</summary>
    public EnrichmentStatus? Enrichment() =>
        _statusSocket is null || _agent is null || _agent.HasExited ? null : EnrichmentStatus.Query(agentPath, _statusSocket);

    public void Stop()
    {
        // The agent deletes its rule and restores the kernel settings it found at start.
        if (_agent is { HasExited: false })
        {
            var code = _agent.Stop(TimeSpan.FromSeconds(60));
            if (code is not 0)
            {
                Console.Error.WriteLine($"sluice-agent stopped with {(code is null ? "SIGKILL after 60 s" : $"exit code {code}")}; its last output:\n{_agent.Output}");
            }
        }
        _collector?.Stop(TimeSpan.FromSeconds(30));
        if (_trial is not null)
        {
            ConsumerWait.DeleteRule(_trial.Control, _trial.Rule);
            ConsumerWait.Unregistered(_trial.Control, TimeSpan.FromSeconds(10));
        }
    }

    public void Dispose()
    {
        _agent?.Dispose();
        _collector?.Dispose();
    }

    /// <summary>
    /// The agent's config for a trial: defaults, except paths, the Collector sink and the kernel
    /// backlog settings; with <paramref name="enrichmentOff"/>, also <c>"Enrichment": {"Enabled": false}</c>.
    /// The section is written only then: an agent that does not know it refuses it as an unknown
    /// key, and the default variant must run on such an agent too.
    /// </summary>
    public static string AgentConfig(string dir, int port, uint backlogLimit, uint backlogWaitTime, bool enrichmentOff = false) => $$"""
        {
          "AgentId": "{{AgentId}}",{{(enrichmentOff ? "\n  \"Enrichment\": { \"Enabled\": false }," : "")}}
          "StateDirectory": "{{dir}}/state",
          "DisableAuditdService": false,
          "Kernel": { "BacklogLimit": {{backlogLimit}}, "BacklogWaitTime": {{backlogWaitTime}} },
          "Rules": { "Files": [ "{{dir}}/audit.rules" ] },
          "Sink": { "Type": "Collector" },
          "Spool": { "Directory": "{{dir}}/spool" },
          "Shipping": {
            "CollectorUrl": "http://127.0.0.1:{{port}}",
            "Token": "{{Token}}",
            "AllowInsecureTransport": true,
            "QuarantineDirectory": "{{dir}}/quarantine"
          },
          "Status": { "Socket": "{{dir}}/agent.sock" }
        }
        """;


    private static void WaitListening(ChildProcess collector, int port, CancellationToken cancel)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                client.Connect(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException)
            {
                collector.ThrowIfExited("starting");
                cancel.ThrowIfCancellationRequested();
                if (sw.Elapsed > TimeSpan.FromSeconds(60))
                {
                    throw new TimeoutException($"sluice-collector did not listen on 127.0.0.1:{port} within 60 s; its last output:\n{collector.Output}");
                }
                Thread.Sleep(100);
            }
        }
    }
}
