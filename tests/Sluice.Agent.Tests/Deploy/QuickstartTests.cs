using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Sluice.Agent.Tests.Kernel;
using Sluice.Testing;

namespace Sluice.Agent.Tests.Deploy;

/// <summary>deploy/quickstart.sh for real: collector, agent on the real kernel with the default rules, auditd given back.</summary>
[Collection(KernelAuditFixture.Collection)]
public sealed class QuickstartTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-quickstart-").FullName;

    public void Dispose()
    {
        Directory.Delete(_dir, recursive: true);
    }


    [Fact]
    public void Quickstart_WithDuration_ShipsExecsToCollectorShowsProgressAndRestoresHostAndAuditd()
    {
        string publish = DeployScripts.PublishDir;
        Directory.CreateSymbolicLink(Path.Combine(_dir, "publish"), publish);
        bool auditdWasRunning = Auditd.IsRunning();
        if (!auditdWasRunning)
        {
            Auditd.Start();
        }
        var guard = new KernelStateGuard();
        try
        {
            var before = KernelSnapshot.Take();
            int port = LoopbackPort.Free();
            string marker = "quickstart-" + Guid.NewGuid().ToString("N")[..8];

            var psi = new ProcessStartInfo("bash")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            foreach (var a in new[] { DeployScripts.Script("quickstart.sh"), "--no-build", "--dir", _dir, "--port", port.ToString(), "--duration", "20" })
            {
                psi.ArgumentList.Add(a);
            }
            // The kernel test collection holds the kernel lock the script would otherwise take.
            psi.Environment["KERNEL_AUDIT_LOCK"] = "";
            var output = new StringBuilder();
            using var progress = new ManualResetEventSlim();
            using var script = new Process { StartInfo = psi };
            script.OutputDataReceived += (_, e) =>
            {
                if (e.Data is null)
                {
                    return;
                }
                lock (output)
                {
                    output.AppendLine(e.Data);
                }
                if (e.Data.Contains("events_per_s="))
                {
                    progress.Set();
                }
            };
            script.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (output) { output.AppendLine(e.Data); } } };
            script.EnableRaisingEvents = true;
            script.Exited += (_, _) => progress.Set();
            script.Start();
            script.BeginOutputReadLine();
            script.BeginErrorReadLine();
            string Output() { lock (output) { return output.ToString(); } }

            Assert.True(progress.Wait(TimeSpan.FromSeconds(90)) && !script.HasExited, $"no progress line from the quickstart:\n{Output()}");
            // The agent took auditd's place.
            Assert.False(Auditd.IsRunning(), $"auditd still runs next to the agent:\n{Output()}");
            const int n = 10;
            var pids = new HashSet<int>();
            for (int i = 0; i < n; i++)
            {
                using var p = Process.Start("/bin/true", [marker, i.ToString()]);
                pids.Add(p.Id);
                p.WaitForExit();
            }

            Assert.True(script.WaitForExit(TimeSpan.FromMinutes(4)), $"the quickstart did not stop after --duration:\n{Output()}");
            script.WaitForExit();
            string text = Output();
            Assert.True(script.ExitCode == 0, $"exit {script.ExitCode}:\n{text}");

            // Progress: one plain line a second (stdout is not a terminal), with every figure.
            var lines = text.Split('\n').Where(l => l.Contains("events_per_s=")).ToList();
            Assert.True(lines.Count >= 10, $"{lines.Count} progress lines in 20 s:\n{text}");
            foreach (var key in new[] { "delivered=", "filtered=", "kernel_lost=", "socket_overruns=", "enobufs=", "serial_gaps=", "spool_dropped=", "evicted=", "spool_events=", "interval_ms=", "buffer_bytes=" })
            {
                Assert.Contains(key, lines[^1]);
            }
            Assert.Contains("loss_total=0 ", lines[^1]);
            Assert.Contains("sluice-collector stats --store", text);
            Assert.Contains("sluice-collector export --store", text);
            // The dashboard's address, and a report command ready to run: run it.
            Assert.Contains($"dashboard: http://127.0.0.1:{port}/", text);
            Assert.Contains($"Dashboard: http://127.0.0.1:{port}/ while a collector serves this store", text);
            string report = Assert.Single(text.Split('\n'), l => l.Contains("sluice-collector report --store", StringComparison.Ordinal)).Trim();
            var (reportCode, reportOutput) = DeployScripts.Run("bash", ["-c", report], TimeSpan.FromMinutes(2));
            Assert.True(reportCode == 0, $"{report}\n{reportOutput}");
            // Coverage names the quickstart's agent.
            Assert.Contains("quickstart-", File.ReadAllText(Path.Combine(_dir, "report.html")));

            // Stored at the collector: its stats, and our execs with their exact arguments.
            string collector = Path.Combine(publish, "collector", "sluice-collector");
            string store = "sqlite:" + Path.Combine(_dir, "collector.db");
            var (code, stats) = DeployScripts.Run(collector, ["stats", "--store", store, "--json"], TimeSpan.FromMinutes(1));
            Assert.True(code == 0, stats);
            var agent = Assert.Single(JsonDocument.Parse(stats).RootElement.GetProperty("agents").EnumerateArray());
            Assert.True(agent.GetProperty("events").GetInt64() >= n, stats);
            Assert.Equal(0, agent.GetProperty("loss").GetProperty("total_lost").GetInt64());
            var (exportCode, export) = DeployScripts.Run(collector, ["export", "--store", store], TimeSpan.FromMinutes(1));
            Assert.True(exportCode == 0, export);
            var ours = export.Split('\n')
                .Where(l => l.StartsWith('{') && l.Contains(marker))
                .Select(l => JsonDocument.Parse(l).RootElement)
                .Where(e => e.TryGetProperty("pid", out var pid) && pids.Contains(pid.GetInt32()))
                .ToList();
            Assert.Equal(n, ours.Count);
            Assert.All(ours, e => Assert.Equal("exec", e.GetProperty("key").GetString()));
            Assert.Equal(
                Enumerable.Range(0, n).Select(i => $"/bin/true {marker} {i}").Order(),
                ours.Select(e => string.Join(' ', e.GetProperty("argv").EnumerateArray().Select(a => a.GetString()))).Order());

            // The host as it was: settings and rules, and auditd registered again.
            Assert.True(Auditd.WaitRegistered(TimeSpan.FromSeconds(20)), $"auditd is not the audit consumer again:\n{text}");
            Assert.Contains("auditd was running before, and is running again", text);
            var after = KernelSnapshot.Take();
            var differences = before.Differences(after).Where(d => !d.StartsWith("pid:", StringComparison.Ordinal)).ToList();
            Assert.True(differences.Count == 0, "not restored: " + string.Join("; ", differences));
            Assert.False(File.Exists(Path.Combine(_dir, "state", "kernel-state.json")), "the kernel snapshot was left behind: restore did not complete");
            // No process of the quickstart is left.
            var left = Process.GetProcesses().Where(p => p.ProcessName is "sluice-agent" or "sluice-collector"
                && ProcessPath(p)?.StartsWith(publish, StringComparison.Ordinal) == true).Select(p => p.Id).ToList();
            Assert.True(left.Count == 0, "processes left: " + string.Join(", ", left));
        }
        finally
        {
            guard.Dispose();
            if (!auditdWasRunning)
            {
                Auditd.Stop();
            }
        }
    }

    private static string? ProcessPath(Process p)
    {
        try
        {
            return p.MainModule?.FileName;
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    [Fact]
    public void Quickstart_BadOption_ExitsTwoNamingIt()
    {
        var (code, output) = DeployScripts.Run("bash", [DeployScripts.Script("quickstart.sh"), "--port", "99999"], TimeSpan.FromSeconds(30));

        Assert.Equal(2, code);
        Assert.Contains("--port '99999'", output);
    }
}
