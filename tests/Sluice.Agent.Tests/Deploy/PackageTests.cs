using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Sluice.Agent.Tests.Kernel;
using Sluice.Testing;

namespace Sluice.Agent.Tests.Deploy;

/// <summary>
/// The Debian packages for real, on this machine: deploy/build-deb.sh builds both from the
/// publish the agent tests run, lintian checks them, <c>dpkg -i</c> installs them, the agent and
/// the collector are started with the commands their postinst printed (no systemd here), an exec
/// arrives in the installed collector's store, <c>dpkg -r</c> gives kernel audit and auditd back,
/// and <c>dpkg -P</c> leaves only what deploy/README.md says it leaves.
/// </summary>
[Collection(KernelAuditFixture.Collection)]
public sealed class PackageTests : IDisposable
{
    private const string AgentExe = "/usr/lib/sluice/agent/sluice-agent";
    private const string CollectorExe = "/usr/lib/sluice/collector/sluice-collector";
    private const string Store = "/var/lib/sluice-collector";
    private static readonly string[] Packages = ["sluice-agent", "sluice-collector"];

    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-deb-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [SkippableFact]
    public void Packages_BuildLintInstallShipRemovePurge_LeaveTheHostAsBefore()
    {
        Skip.IfNot(File.Exists("/usr/bin/dpkg-deb"), "not a Debian system (no dpkg-deb): the packages are for Debian and derivatives");
        // Never purge somebody's installation: this test installs and purges the packages itself.
        Skip.If(Packages.Any(Installed), "sluice-agent or sluice-collector is installed on this machine; the test would purge it");
        Skip.If(Directory.Exists("/etc/sluice") || Directory.Exists(Store),
            "/etc/sluice or /var/lib/sluice-collector exists (an install.sh installation?); the test would remove it");
        string version = PackageVersionTests.PropsVersion();
        bool userBefore = Run("getent", "passwd", "sluice-collector").Code == 0;

        // ---------------------------------------------------------------- build and lint
        string debs = Path.Combine(_dir, "debs");
        var (buildCode, build) = Run("bash", DeployScripts.Script("build-deb.sh"), "--publish", DeployScripts.PublishDir, "--out", debs, "--compression", "gzip");
        Assert.True(buildCode == 0, build);
        string arch = Run("dpkg", "--print-architecture").Output.Trim();
        string agentDeb = Path.Combine(debs, $"sluice-agent_{version}_{arch}.deb");
        string collectorDeb = Path.Combine(debs, $"sluice-collector_{version}_{arch}.deb");
        Assert.True(File.Exists(agentDeb) && File.Exists(collectorDeb), build);
        Assert.Equal(version, Run("dpkg-deb", "-f", agentDeb, "Version").Output.Trim());

        // Every tag lintian still reports is overridden, with its reason, in deploy/debian/*/lintian-overrides;
        // --display-info also shows overrides that no longer match anything (unused-override).
        var (lintCode, lint) = Run("lintian", "--display-info", "--no-tag-display-limit", agentDeb, collectorDeb);
        var tags = lint.Split('\n').Where(l => l.Length > 2 && l[1] == ':' && "EWIX".Contains(l[0])).ToList();
        Assert.True(lintCode == 0 && tags.Count == 0, $"lintian (exit {lintCode}):\n{lint}");
        foreach (var pkg in Packages)
        {
            string[] lines = File.ReadAllLines(Path.Combine(DeployScripts.RepoRoot, "deploy/debian", pkg, "lintian-overrides"));
            for (int i = 0; i < lines.Length; i++)
            {
                if (lines[i].Length > 0 && !lines[i].StartsWith('#'))
                {
                    // Its paragraph (the lines since the last blank one) starts with the reason.
                    int start = i;
                    while (start > 0 && lines[start - 1].Length > 0)
                    {
                        start--;
                    }
                    Assert.True(lines[start].StartsWith("# ", StringComparison.Ordinal), $"{pkg} override '{lines[i]}' has no reason above it");
                }
            }
        }

        bool auditdWasRunning = Auditd.IsRunning();
        if (!auditdWasRunning)
        {
            // Removal must give auditd back: have one to give back.
            Auditd.Start();
        }
        var guard = new KernelStateGuard();
        try
        {
            var before = KernelSnapshot.Take();

            // ---------------------------------------------------------------- install
            var (installCode, install) = Dpkg("-i", agentDeb, collectorDeb);
            Assert.True(installCode == 0, install);
            Assert.True(Packages.All(Installed), install);
            string[] files = [.. Dpkg("-L", "sluice-agent", "sluice-collector").Output.Split('\n', StringSplitOptions.RemoveEmptyEntries)];
            Assert.Contains("/etc/sluice/agent.json", files);
            Assert.Equal(["/etc/sluice/agent.json", "/etc/sluice/audit.rules", "/etc/sluice/collector.env", "/etc/sluice/collector.tokens"],
                Run("dpkg-query", "-W", "-f=${Conffiles}\\n", "sluice-agent", "sluice-collector").Output
                    .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim().Split(' ')[0]).Order());
            // postinst: directories with the unit's modes, the collector's user owning its store and token file.
            Assert.Equal((UnixFileMode)0b111_000_000, File.GetUnixFileMode("/var/lib/sluice"));
            Assert.Equal((UnixFileMode)0b111_000_000, File.GetUnixFileMode(Store));
            Assert.Equal("sluice-collector", Run("stat", "-c", "%U", Store).Output.Trim());
            Assert.Equal("sluice-collector 600", Run("stat", "-c", "%U %a", "/etc/sluice/collector.tokens").Output.Trim());
            Assert.Equal("root 600", Run("stat", "-c", "%U %a", "/etc/sluice/collector.env").Output.Trim());
            Assert.Equal("root 640", Run("stat", "-c", "%U %a", "/etc/sluice/audit.rules").Output.Trim());

            Assert.Equal($"sluice-agent {version}", Run("/usr/sbin/sluice-agent", "--version").Output.Trim());
            Assert.Equal($"sluice-collector {version}", Run("/usr/sbin/sluice-collector", "--version").Output.Trim());
            var (statusCode, status) = Run("/usr/sbin/sluice-agent", "status");
            Assert.True(statusCode == 0 && status.Contains("enabled"), status);

            // No systemd here: postinst says how to start each program.
            Assert.False(Directory.Exists("/run/systemd/system"), "this test is for a host without systemd (postinst starts the units where it runs)");
            string StartCommand(string program) => Assert.Single(install.Split('\n'),
                l => l.StartsWith("    setsid ", StringComparison.Ordinal) && l.Contains(program, StringComparison.Ordinal)).Trim();
            string startCollector = StartCommand("/usr/lib/sluice/sluice-collector-start");
            string startAgent = StartCommand("/usr/sbin/sluice-agent run");

            // ---------------------------------------------------------------- configure: enrol the agent, point it at the collector
            int port = LoopbackPort.Free();
            string agentId = "pkgtest-" + Guid.NewGuid().ToString("N")[..8];
            string token = Convert.ToBase64String(RandomNumberGenerator.GetBytes(33)).Replace('+', '-').Replace('/', '_');
            File.AppendAllText("/etc/sluice/collector.tokens", $"{agentId} sha256:{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)))}\n");
            File.WriteAllText("/etc/sluice/collector.env", $"SLUICE_COLLECTOR_ARGS=--listen=127.0.0.1:{port}\n");
            File.WriteAllText("/etc/sluice/agent.token", token + "\n");
            File.SetUnixFileMode("/etc/sluice/agent.token", UnixFileMode.UserRead | UnixFileMode.UserWrite);
            File.WriteAllText("/etc/sluice/agent.json", $$"""
                {
                  "AgentId": "{{agentId}}",
                  "Sink": { "Type": "Collector" },
                  "Monitor": { "HeartbeatIntervalMs": 1000 },
                  "Shipping": { "CollectorUrl": "http://127.0.0.1:{{port}}", "AllowInsecureTransport": true, "TokenFile": "/etc/sluice/agent.token" }
                }
                """);

            // ---------------------------------------------------------------- start both as postinst said
            Assert.Equal(0, Run("bash", "-c", startCollector).Code);
            WaitFor(() => File.Exists("/var/log/sluice-collector/collector.log") && File.ReadAllText("/var/log/sluice-collector/collector.log").Contains("listening on"),
                TimeSpan.FromSeconds(60), () => "the collector did not start:\n" + Log("/var/log/sluice-collector/collector.log"));
            Assert.Single(PidsOf(CollectorExe));
            // Not root: the start script drops to the collector's user (the owner of /proc/PID is its uid).
            Assert.Equal("sluice-collector", Run("stat", "-c", "%U", $"/proc/{PidsOf(CollectorExe)[0]}").Output.Trim());

            Assert.Equal(0, Run("bash", "-c", startAgent).Code);
            int agentPid = 0;
            WaitFor(() =>
            {
                var pids = PidsOf(AgentExe);
                if (pids.Count != 1)
                {
                    return false;
                }
                agentPid = pids[0];
                var (code, json) = Run("/usr/sbin/sluice-agent", "status", "--json");
                if (code != 0)
                {
                    return false;
                }
                var s = JsonDocument.Parse(json).RootElement;
                return s.GetProperty("pid").GetInt32() == agentPid && s.GetProperty("rules").GetInt32() > 0 && s.TryGetProperty("agent", out _);
            }, TimeSpan.FromSeconds(90), () => "the agent did not take over kernel audit:\n" + Log("/var/log/sluice/agent.log"));
            Assert.False(Auditd.IsRunning(), "auditd still runs next to the agent:\n" + Log("/var/log/sluice/agent.log"));
            var (runningCode, running) = Run("/usr/sbin/sluice-agent", "status");
            Assert.True(runningCode == 0, running);
            Assert.Contains($"agent {version} running since ", running);

            // ---------------------------------------------------------------- an exec arrives in the installed collector's store
            string marker = "pkgtest-" + Guid.NewGuid().ToString("N")[..8];
            var execs = new HashSet<int>();
            for (int i = 0; i < 3; i++)
            {
                using var p = Process.Start("/bin/true", [marker, i.ToString()]);
                execs.Add(p.Id);
                p.WaitForExit();
            }
            List<JsonElement> ours = [];
            WaitFor(() =>
            {
                // As the collector's user, as an operator may: nothing in the store becomes root's.
                var (code, export) = Run("setpriv", "--reuid=sluice-collector", "--regid=sluice-collector", "--init-groups",
                    "/usr/sbin/sluice-collector", "export", "--store", $"sqlite:{Store}/events.db");
                ours = code != 0 ? [] : [.. export.Split('\n')
                    .Where(l => l.StartsWith('{') && l.Contains(marker, StringComparison.Ordinal))
                    .Select(l => JsonDocument.Parse(l).RootElement)
                    .Where(e => e.TryGetProperty("pid", out var pid) && execs.Contains(pid.GetInt32()))];
                return ours.Count == execs.Count;
            }, TimeSpan.FromSeconds(60), () => $"{ours.Count} of {execs.Count} execs at the collector;\nagent:\n{Log("/var/log/sluice/agent.log")}\ncollector:\n{Log("/var/log/sluice-collector/collector.log")}");
            Assert.All(ours, e => Assert.Equal(agentId, e.GetProperty("agent_id").GetString()));
            Assert.All(ours, e => Assert.Equal("exec", e.GetProperty("key").GetString()));
            Assert.Equal(Enumerable.Range(0, execs.Count).Select(i => $"/bin/true {marker} {i}"),
                ours.Select(e => string.Join(' ', e.GetProperty("argv").EnumerateArray().Select(a => a.GetString()))).Order());
            // The heartbeat's version field, as the collector stored it.
            string? reported = null;
            WaitFor(() => (reported = HeartbeatVersion(agentId)) is not null, TimeSpan.FromSeconds(30), () => "no heartbeat stored");
            Assert.Equal(version, reported);

            // ---------------------------------------------------------------- upgrade (here: the same version again)
            // The edited conffile is kept, and the running agent too: postinst says to restart it.
            var (upgradeCode, upgrade) = Dpkg("-i", agentDeb);
            Assert.True(upgradeCode == 0, upgrade);
            Assert.Contains(agentId, File.ReadAllText("/etc/sluice/agent.json"));
            Assert.Contains($"sluice-agent: an agent is running (pid {agentPid}) from the version before", upgrade);
            Assert.Equal([agentPid], PidsOf(AgentExe));

            // ---------------------------------------------------------------- dpkg -r: the host as it was
            var (removeCode, remove) = Dpkg("-r", "sluice-agent", "sluice-collector");
            Assert.True(removeCode == 0, remove);
            Assert.True(PidsOf(AgentExe).Count == 0 && PidsOf(CollectorExe).Count == 0, "still running after dpkg -r:\n" + remove);
            Assert.True(Auditd.WaitRegistered(TimeSpan.FromSeconds(30)), "auditd is not the audit consumer again:\n" + remove + Log("/var/log/sluice/agent.log"));
            var after = KernelSnapshot.Take();
            var differences = before.Differences(after).Where(d => !d.StartsWith("pid:", StringComparison.Ordinal)).ToList();
            Assert.True(differences.Count == 0, "not restored: " + string.Join("; ", differences) + "\n" + remove);
            Assert.False(File.Exists("/var/lib/sluice/kernel-state.json"), "the kernel snapshot was left behind: the restore did not complete");
            Assert.False(Directory.Exists("/usr/lib/sluice"), "programs left after dpkg -r");
            Assert.True(File.Exists("/etc/sluice/agent.json") && File.Exists("/etc/sluice/collector.tokens"), "dpkg -r keeps the conffiles");

            // ---------------------------------------------------------------- dpkg -P: only what deploy/README.md says stays
            var (purgeCode, purge) = Dpkg("-P", "sluice-agent", "sluice-collector");
            Assert.True(purgeCode == 0, purge);
            Assert.False(Packages.Any(p => Run("dpkg-query", "-W", p).Code == 0), "still known to dpkg after the purge:\n" + purge);
            foreach (var path in files.Where(p => p != "/."))
            {
                // What stays of the package's list are directories other packages own too (/usr/share/doc, /lib/systemd/system, ...).
                if (File.Exists(path) || Directory.Exists(path) || new FileInfo(path).LinkTarget is not null)
                {
                    Assert.True(Directory.Exists(path) && Run("dpkg", "-S", path).Code == 0, $"{path} left after dpkg -P:\n{purge}");
                }
            }
            foreach (var path in new[] { "/etc/sluice", "/var/lib/sluice", "/var/log/sluice", "/run/sluice", "/var/log/sluice-collector" })
            {
                Assert.False(Directory.Exists(path), $"{path} left after dpkg -P:\n{purge}");
            }
            // Documented to stay: the store, unless asked (PURGE_SLUICE_COLLECTOR_STORE=yes), and its owner.
            Assert.True(File.Exists(Path.Combine(Store, "events.db")), purge);
            Assert.Contains($"kept the store {Store}", purge);
            Assert.Equal(0, Run("getent", "passwd", "sluice-collector").Code);
        }
        finally
        {
            StopLeftovers();
            foreach (var pkg in Packages.Where(Installed))
            {
                Dpkg("-P", "--force-remove-reinstreq", pkg);
            }
            guard.Dispose();
            Run("rm", "-rf", Store, "/etc/sluice", "/var/lib/sluice", "/var/log/sluice", "/run/sluice", "/var/log/sluice-collector");
            if (!userBefore && Run("getent", "passwd", "sluice-collector").Code == 0)
            {
                Run("deluser", "--system", "sluice-collector");
            }
            if (!auditdWasRunning)
            {
                Auditd.Stop();
            }
            else if (!Auditd.IsRunning())
            {
                Auditd.Start();
            }
        }
    }

    private static string? HeartbeatVersion(string agentId)
    {
        using var db = new SqliteConnection($"Data Source={Store}/events.db;Mode=ReadOnly");
        db.Open();
        using var q = db.CreateCommand();
        q.CommandText = "SELECT version FROM agents WHERE agent_id = $id";
        q.Parameters.AddWithValue("$id", agentId);
        return q.ExecuteScalar() as string is { Length: > 0 } v ? v : null;
    }

    /// <summary>SIGTERM to what this test started from the packages' programs (found by executable), and wait.</summary>
    private static void StopLeftovers()
    {
        foreach (var exe in new[] { AgentExe, CollectorExe })
        {
            foreach (int pid in PidsOf(exe))
            {
                Run("kill", "-TERM", pid.ToString());
            }
        }
        var sw = Stopwatch.StartNew();
        while ((PidsOf(AgentExe).Count > 0 || PidsOf(CollectorExe).Count > 0) && sw.Elapsed < TimeSpan.FromSeconds(150))
        {
            Thread.Sleep(200);
        }
    }

    /// <summary>Processes whose executable is <paramref name="exe"/> (or was, before it was removed).</summary>
    private static List<int> PidsOf(string exe)
    {
        var pids = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid))
            {
                continue;
            }
            try
            {
                string? target = new FileInfo(Path.Combine(dir, "exe")).LinkTarget;
                if (target == exe || target == exe + " (deleted)")
                {
                    pids.Add(pid);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
        return pids;
    }

    private static bool Installed(string package) =>
        Run("dpkg-query", "-W", "-f=${db:Status-Abbrev}", package) is (0, var s) && s.StartsWith("i", StringComparison.Ordinal);

    /// <summary>dpkg, waiting for its lock while another program (apt) holds it.</summary>
    private static (int Code, string Output) Dpkg(params string[] args)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var result = Run("dpkg", args);
            if (result.Code == 0 || !result.Output.Contains("lock", StringComparison.Ordinal) || sw.Elapsed > TimeSpan.FromMinutes(5))
            {
                return result;
            }
            Thread.Sleep(2000);
        }
    }

    private static (int Code, string Output) Run(string file, params string[] args)
    {
        // Nothing of the test runner's environment asks the maintainer scripts for more (PURGE_SLUICE_COLLECTOR_STORE).
        var env = new Dictionary<string, string> { ["PURGE_SLUICE_COLLECTOR_STORE"] = "", ["DEBIAN_FRONTEND"] = "noninteractive" };
        return DeployScripts.Run(file, args, TimeSpan.FromMinutes(10), env);
    }

    private static string Log(string path) => File.Exists(path) ? string.Join('\n', File.ReadLines(path).TakeLast(40)) : $"({path} missing)";

    private static void WaitFor(Func<bool> condition, TimeSpan timeout, Func<string> failure)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(sw.Elapsed < timeout, failure());
            Thread.Sleep(250);
        }
    }
}
