using System.Diagnostics;
using System.Globalization;
using Sluice.Agent.Tests.EndToEnd;
using Sluice.Collector.Reports;
using Sluice.Collector.Storage.Sqlite;
using Sluice.Testing;

namespace Sluice.Agent.Tests.Kernel;

/// <summary>
/// The compliance report on a dataset of known content made on the real kernel: known actions run
/// under login uids of their own (so nothing else on the host matches the rules), delivered by the
/// real agent to a real collector; a coverage gap made by stopping the agent; loss made by a burst
/// into a too small reservoir. Every count of every section is checked against what was done.
/// </summary>
[Collection(KernelAuditFixture.Collection)]
public sealed class ComplianceReportEndToEndTests : IDisposable
{
    private const string AgentId = CollectorProcess.AgentId;
    // Login uids of our own: A runs commands, B changes accounts and authenticates, C changes audit rules and identity files.
    private static readonly uint A = 4_000_000_000u + (uint)Random.Shared.Next(1_000_000) * 3;
    private static readonly uint B = A + 1, C = A + 2;
    private const int RootRuns = 5, UserRuns = 3;
    private const int GapSeconds = 12, SilenceSeconds = 5;

    private readonly KernelStateGuard _guard = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-report-e2e-").FullName;
    private readonly string _user = "slc" + Guid.NewGuid().ToString("N")[..8];
    private CollectorProcess? _collector;

    /// <summary>The agent this test started last: disposed (stopped) in <see cref="Dispose"/> too, so a failed test leaves no consumer registered.</summary>
    private AgentRunner? _agent;

    public void Dispose()
    {
        _agent?.Dispose();
        // Never leave the test account behind.
        NativeTools.Run("userdel", _user);
        _collector?.Dispose();
        _guard.Dispose();
    }

    /// <summary>Runs a shell script whose commands have login uid <paramref name="auid"/>.</summary>
    private static void AsLoginUser(uint auid, string script)
    {
        var psi = new ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add($"echo {auid} > /proc/self/loginuid || exit 90\n{script}");
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"script as auid {auid} exited {p.ExitCode}: {output}");
    }

    private string Rules(string key, bool second) => second
        ? $"-a never,user -F auid!={B}\n-a always,exit -F arch=b64 -S getppid -F auid={A} -k {key}\n"
        : $"""
            -a never,user -F auid!={B}
            -a always,exit -F arch=b64 -S execve -F auid={A} -k {key}
            -a always,exit -F arch=b64 -S open,openat -F exit=-EACCES -F auid={A} -k {key}
            -a always,exit -F path=/etc/passwd -F perm=wa -F auid={C} -k {key}

            """;

    private AgentRunner StartAgent(string rules, string extra)
    {
        string config = _collector!.AgentConfig(_dir) + $$"""
            ,
            {{extra}}
            """;
        var agent = AgentRunner.Start(rules, config);
        _agent = agent;
        agent.WaitReady();
        return agent;
    }

    private static long Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    [Fact]
    public async Task Report_KnownActionsGapAndLoss_EveryCountAsDone()
    {
        _collector = new CollectorProcess();
        _collector.Start();
        string db = Path.Combine(_collector.Directory, "events.db");
        string key = TestRules.UniqueKey("report");
        string secretDir = Directory.CreateDirectory(Path.Combine(_dir, "private")).FullName;
        File.SetUnixFileMode(secretDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        string secret = Path.Combine(secretDir, "secret");
        await File.WriteAllTextAsync(secret, "x");

        // Run 1: the known actions.
        var agent = StartAgent(Rules(key, second: false), """ "Monitor": { "HeartbeatIntervalMs": 1000 } """);
        long from = Now();
        Thread.Sleep(1500);
        AsLoginUser(A, $"""
            for i in {string.Join(' ', Enumerable.Range(1, RootRuns))}; do /bin/true root; done
            for i in {string.Join(' ', Enumerable.Range(1, UserRuns))}; do setpriv --reuid=65534 --regid=65534 --clear-groups /bin/true user; done
            setpriv --reuid=65534 --regid=65534 --clear-groups cat {secret} 2>/dev/null && exit 91
            exit 0
            """);
        AsLoginUser(B, $"""
            useradd --no-create-home --no-user-group --gid nogroup --shell /usr/sbin/nologin {_user}
            userdel {_user}
            su -s /bin/true -c true nobody
            setpriv --reuid=65534 --regid=65534 --clear-groups su -c true root < /dev/null 2>/dev/null && exit 92
            exit 0
            """);
        AsLoginUser(C, $"""
            auditctl -a always,exit -F arch=b64 -S getppid -F auid={C} -k {key}-c >/dev/null
            auditctl -d always,exit -F arch=b64 -S getppid -F auid={C} -k {key}-c >/dev/null
            : >> /etc/passwd
            """);
        Thread.Sleep(1500);
        var run1 = agent.Metrics();
        Assert.Equal(0, agent.Stop());
        long stopped1 = Now();
        agent.Dispose();

        // The gap: no agent for a while.
        Thread.Sleep(GapSeconds * 1000);

        // Run 2: other rules (a new rules hash), and a burst into a reservoir far too small: loss.
        long restart = Now();
        agent = StartAgent(Rules(key, second: true), """
            "Drain": { "IntervalMs": 2000, "MinIntervalMs": 10 },
            "Reservoir": { "InitialBufferBytes": 65536, "MaxBufferBytes": 268435456 },
            "Monitor": { "IntervalMs": 250, "CalmTicksToRelax": 3600, "HeartbeatIntervalMs": 1000 }
            """);
        long ready2 = Now();
        // The agent is held still (SIGSTOP) while the burst runs, so the burst overruns the small reservoir
        // whatever this host's timing: left running, a monitor tick early in the burst can grow the buffer in
        // time for the whole burst to fit (CI saw it, as in BackpressureTests).
        Assert.Equal(0, Tmds.Linux.LibC.kill(agent.Pid, Tmds.Linux.LibC.SIGSTOP));
        try
        {
            AsLoginUser(A, $"exec {NativeTools.Get("syscall_burst")} 20000 20000 >/dev/null");
        }
        finally
        {
            Tmds.Linux.LibC.kill(agent.Pid, Tmds.Linux.LibC.SIGCONT);
        }
        var settled = agent.WaitFor(m => m.TotalLoss > 0, TimeSpan.FromSeconds(30), "loss from the burst");
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(40))
        {
            Thread.Sleep(1500);
            var next = agent.Metrics();
            if (next.TotalLoss == settled.TotalLoss && next.Records == settled.Records && next.Spool is { DepthBatches: 0 })
            {
                settled = next;
                break;
            }
            settled = next;
        }
        Assert.Equal(0, agent.Stop());
        long to = Now();
        agent.Dispose();
        _collector.Stop();

        SqliteEventStore store = new(db);
        await using var _ = store;
        await store.InitializeAsync(CancellationToken.None);
        string baseline = Path.Combine(_dir, "baseline.rules");
        await File.WriteAllTextAsync(baseline, Rules(key, second: false));
        var report = await new ReportBuilder(store).BuildAsync(
            new ReportRequest(from, to, AgentId, baseline) { MaxSilenceMs = SilenceSeconds * 1000 }, CancellationToken.None);
        string a = A.ToString(CultureInfo.InvariantCulture), b = B.ToString(CultureInfo.InvariantCulture), c = C.ToString(CultureInfo.InvariantCulture);
        string context = ReportMarkdown.Render(report);

        // Coverage: up, a gap of about GapSeconds where the agent was stopped, up again; the burst's loss by kind.
        var host = Assert.Single(report.Coverage);
        Assert.True(host.Intervals.Select(i => i.Connected).SequenceEqual([true, false, true]), context);
        var gap = host.Intervals[1];
        Assert.InRange(gap.StartUnixMs, stopped1 - 3000, stopped1);
        Assert.InRange(gap.EndUnixMs, restart, ready2);
        Assert.Equal(run1.KernelLost + settled.KernelLost, host.Loss.KernelLost);
        Assert.Equal(run1.SocketOverruns + settled.SocketOverruns, host.Loss.SocketOverruns);
        Assert.Equal(run1.SerialGaps + settled.SerialGaps, host.Loss.SerialGaps);
        Assert.Equal(run1.ReassemblyEvicted + settled.ReassemblyEvicted, host.Loss.ReassemblyEvicted);
        Assert.True(host.Loss.Total > 0, context);
        Assert.Equal(host.Loss.Total, host.Intervals[2].Loss.Total);
        Assert.StartsWith("gaps: no agent ", host.Verdict);
        Assert.Contains(" lost ", host.Verdict);
        Assert.Equal(2, host.RulesHashes.Select(h => h.RulesHash).Distinct().Count());

        // Privileged: the execs as root (euid 0) under login uid A; the ones as uid 65534 are not.
        Assert.Equal((RootRuns + UserRuns + 1L, RootRuns + UserRuns + 1L), (report.Privileged.Total, report.Privileged.Elevated));
        Assert.Equal([(a, RootRuns + UserRuns + 1L)], report.Privileged.ByUser.Select(u => (u.LoginUser, u.Commands)));
        Assert.Equal(
            [("/usr/bin/true", "/bin/true root", (long)RootRuns), ("/usr/bin/setpriv", "setpriv --reuid=65534 --regid=65534 --clear-groups /bin/true user", UserRuns),
             ("/usr/bin/setpriv", $"setpriv --reuid=65534 --regid=65534 --clear-groups cat {secret}", 1L)],
            report.Privileged.Commands.OrderByDescending(x => x.Count).ThenBy(x => x.Argv, StringComparer.Ordinal).Select(x => (x.Exe, x.Argv, x.Count)));

        // Access failures: the one refused open, by uid 65534 under login uid A.
        Assert.Equal(1, report.AccessFailures.Total);
        Assert.Equal([(a, "65534", "EACCES", secret, "/usr/bin/cat", 1L)], report.AccessFailures.Rows.Select(r => (r.LoginUser, r.Uid, r.Error, r.Path, r.Exe, r.Count)));

        // Identity: the account added and deleted, the su sessions, and the write to /etc/passwd.
        // useradd and userdel log one record each; su as root logs a successful authentication (pam_rootok),
        // account check, session start and end; su as uid 65534 with no password logs one failed authentication.
        var identity = report.Identity.Counts.Select(x => (x.Category, x.Type, x.Result, x.Count)).ToList();
        Assert.True(identity.SequenceEqual(
        [
            ("account", "ADD_USER", "success", 1L), ("account", "DEL_USER", "success", 1L),
            ("auth", "USER_ACCT", "success", 1L), ("auth", "USER_AUTH", "failed", 1L), ("auth", "USER_AUTH", "success", 1L),
            ("identity-file", "openat", "success", 1L),
            ("session", "USER_END", "success", 1L), ("session", "USER_START", "success", 1L),
        ]), string.Join("\n", report.Identity.Counts));
        Assert.All(report.Identity.Events.Where(e => e.Category != "identity-file"), e => Assert.Equal(b, e.LoginUser));
        Assert.Equal(c, Assert.Single(report.Identity.Events, e => e.Category == "identity-file").LoginUser);

        // Audit-system changes: the rule added and deleted under login uid C; the restart (the first start
        // was before the range), the silence while stopped, the rules change.
        Assert.Equal(2, report.AuditChanges.Changes.Count(x => x.Category == "audit-config" && x.LoginUser == c));
        var counts = report.AuditChanges.Counts.ToDictionary(x => x.Category, x => x.Count);
        Assert.Equal((1L, 1L, 1L), (counts["agent-start"], counts["agent-silent"], counts["rules-change"]));
        Assert.InRange(Assert.Single(report.AuditChanges.Changes, x => x.Category == "agent-start").TimeUnixMs, restart, ready2);

        // Baseline: the second run's rules are in force; the first run's exec, EACCES and passwd rules are missing.
        // Rules are compared and shown in auditctl -l's form, which prints a field value as a signed
        // 32-bit number (auid 4294967295 is -1): our login uids above 2^31 print negative.
        int la = unchecked((int)A), lc = unchecked((int)C);
        var hb = Assert.Single(report.Baseline.Hosts);
        Assert.True(hb.Known, context);
        Assert.Equal(
        [
            $"-a always,exit -F arch=b64 -S execve -F auid={la} -F key={key}",
            $"-a always,exit -F arch=b64 -S open,openat -F exit=-EACCES -F auid={la} -F key={key}",
            $"-a always,exit -S all -F path=/etc/passwd -F perm=wa -F auid={lc} -F key={key}",
        ], hb.Missing);
        Assert.Equal([$"-a always,exit -F arch=b64 -S getppid -F auid={la} -F key={key}"], hb.Extra);
    }
}
