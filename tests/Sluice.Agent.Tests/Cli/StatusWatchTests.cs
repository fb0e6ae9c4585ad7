using System.Diagnostics;
using System.Text.Json;
using Sluice.Agent.Cli;
using Sluice.Agent.Monitoring;
using Sluice.Agent.Spool;
using Sluice.Testing;

namespace Sluice.Agent.Tests.Cli;

/// <summary><c>sluice-agent status --watch</c> against a running agent, and its two output shapes.</summary>
[Collection(KernelAuditFixture.Collection)]
public sealed class StatusWatchTests : IDisposable
{
    private readonly KernelStateGuard _guard = new();

    public void Dispose() => _guard.Dispose();

    [Fact]
    public void Watch_NotATerminal_OneLinePerRefreshFollowingTheAgentsFigures()
    {
        string key = TestRules.UniqueKey("watch");
        using var agent = AgentRunner.Start($"-a always,exit -F arch=b64 -S execve -F key={key}\n");
        agent.WaitReady();
        for (int i = 0; i < 5; i++)
        {
            using var p = Process.Start("/bin/true")!;
            p.WaitForExit();
        }
        agent.WaitFor(m => m.Events >= 5, TimeSpan.FromSeconds(30), "5 exec events");

        var sw = Stopwatch.StartNew();
        var (code, stdout, stderr) = AgentProcess.Run($"status --watch --interval 0.5 --count 3 --socket {agent.SocketPath}");
        sw.Stop();

        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        foreach (var line in lines)
        {
            var fields = line.Split(' ').Skip(1).Select(f => f.Split('=')).ToDictionary(f => f[0], f => f[1]);
            Assert.True(long.Parse(fields["events"]) >= 5, line);
            Assert.Equal("0", fields["kernel_lost"]);
            Assert.Equal(agent.Metrics().ReceiveBufferBytes.ToString(), fields["buffer_bytes"]);
            Assert.True(fields.ContainsKey("serial_gaps") && fields.ContainsKey("enobufs") && fields.ContainsKey("interval_ms"), line);
            Assert.True(long.Parse(fields["rss_bytes"]) > 0 && long.Parse(fields["peak_rss_bytes"]) >= long.Parse(fields["rss_bytes"]), line);
            // JsonLines sink here: no spool, so no delivered count.
            Assert.False(fields.ContainsKey("delivered"), line);
        }
        // Three refreshes half a second apart: the watch waited between them.
        Assert.True(sw.Elapsed >= TimeSpan.FromSeconds(1), $"{sw.Elapsed}");
    }

    [Fact]
    public async Task Watch_Json_OneSnapshotPerLineThenEndsWhenTheAgentStops()
    {
        using var agent = AgentRunner.Start($"-a always,exit -F arch=b64 -S execve -F key={TestRules.UniqueKey("watch")}\n");
        agent.WaitReady();
        var psi = new ProcessStartInfo(AgentProcess.ExePath, $"status --watch --json --interval 0.2 --socket {agent.SocketPath}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var watch = Process.Start(psi)!;
        var stderr = watch.StandardError.ReadToEndAsync();
        string first = (await watch.StandardOutput.ReadLineAsync())!;
        var snapshot = JsonDocument.Parse(first).RootElement;
        Assert.Equal("unicast", snapshot.GetProperty("mode").GetString());

        Assert.Equal(0, agent.Stop());

        Assert.True(watch.WaitForExit(TimeSpan.FromSeconds(30)), "the watch kept running after the agent stopped");
        Assert.Equal(0, watch.ExitCode);
        Assert.Contains("stopped answering", await stderr);
    }

    [Fact]
    public void FormatFrame_WithSpool_ShowsDeliveredSpoolAndEachLossKind()
    {
        var started = new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero);
        var m = new MetricsSnapshot
        {
            StartedUtc = started,
            Mode = "unicast",
            Events = 1200,
            Filtered = 7,
            Written = 1193,
            KernelLost = 1,
            SocketOverruns = 2,
            Enobufs = 3,
            SerialGaps = 4,
            ReassemblyEvicted = 5,
            EventsPerSecond = 42.5f,
            IntervalMs = 50,
            ReceiveBufferBytes = 64 << 20,
            Backlog = 9,
            BacklogLimit = 65752,
            Spool = new SpoolCounters { AckedEvents = 1100, DepthEvents = 93, DepthBatches = 2, DepthBytes = 3 << 20, DroppedEvents = 6 },
        };

        var frame = StatusCommand.FormatFrame(m, started.AddSeconds(3723));
        string text = string.Join('\n', frame);

        Assert.Contains("up 1:02:03", frame[0]);
        Assert.Contains("42.5 events/s", text);
        Assert.Contains("1100 delivered (acked by the collector)", text);
        Assert.Contains("7 filtered", text);
        Assert.Contains("93 events waiting  2 batches  3.0 MiB on disk", text);
        Assert.Contains("kernel_lost 1  socket_overruns 2 (ENOBUFS 3)  serial_gaps 4  spool_dropped 6  evicted 5", text);
        Assert.Contains($"{m.TotalLoss} total", text);
        Assert.Contains("every 50 ms", text);
        Assert.Contains("buffer 64.0 MiB", text);
        Assert.Contains("backlog 9/65752", text);
    }

    [Fact]
    public async Task Watch_Terminal_RedrawsTheBlockInPlace()
    {
        // A status socket that answers like the agent's, for the rendering only.
        string dir = Directory.CreateTempSubdirectory("sluice-watch-").FullName;
        string socketPath = Path.Combine(dir, "agent.sock");
        var metrics = new AgentMetrics { Mode = "unicast" };
        var options = new Sluice.Agent.Configuration.AgentOptions { Status = new Sluice.Agent.Configuration.StatusOptions { Socket = socketPath } };
        using var server = new Status.StatusServer(options, metrics, Microsoft.Extensions.Logging.Abstractions.NullLogger<Status.StatusServer>.Instance);
        await server.StartAsync(CancellationToken.None);
        try
        {
            var sw = Stopwatch.StartNew();
            while (!File.Exists(socketPath) && sw.Elapsed < TimeSpan.FromSeconds(10))
            {
                await Task.Delay(20);
            }
            var stdout = new StringWriter();
            var stderr = new StringWriter();

            int code = await StatusCommand.Watch(socketPath, new StatusCommand.WatchSettings(TimeSpan.FromMilliseconds(10), Count: 2, Plain: false),
                stdout, stderr, TimeProvider.System, CancellationToken.None);

            Assert.Equal(0, code);
            string text = stdout.ToString();
            int frameLines = StatusCommand.FormatFrame(metrics.Snapshot(), DateTimeOffset.UtcNow).Count;
            // The second frame moves the cursor up over the first and clears below it.
            Assert.Equal(1, CountOf(text, $"\e[{frameLines}A\e[J"));
            Assert.Equal(2, CountOf(text, "sluice-agent (unicast)"));
        }
        finally
        {
            await server.StopAsync(CancellationToken.None);
            Directory.Delete(dir, recursive: true);
        }
    }

    private static int CountOf(string text, string part)
    {
        int n = 0;
        for (int i = text.IndexOf(part, StringComparison.Ordinal); i >= 0; i = text.IndexOf(part, i + part.Length, StringComparison.Ordinal))
        {
            n++;
        }
        return n;
    }
}
