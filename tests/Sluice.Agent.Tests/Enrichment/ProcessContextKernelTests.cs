using System.Diagnostics;
using System.Text.Json;
using Sluice.Agent.Enrichment;
using Sluice.Audit.Tables;
using Sluice.Testing;

namespace Sluice.Agent.Tests.Enrichment;

/// <summary>
/// The process context against the real kernel: the published agent, the rules <c>rules suggest</c>
/// prints (with a unique key), real shells, a real cgroup, a pid forced to be used twice.
/// </summary>
[Collection(KernelAuditFixture.Collection)]
public sealed class ProcessContextKernelTests : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private readonly KernelStateGuard _guard = new();
    private readonly string _key = TestRules.UniqueKey("ctx");
    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-ctx-").FullName;

    public void Dispose()
    {
        _guard.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>The suggested rules for this machine's arch, with the test's key.</summary>
    private string Rules() =>
        RuleAdvisor.Suggest(RuleAdvisor.Missing([], AuditArch.Machine)).Replace("-k " + RuleAdvisor.Key, "-k " + _key, StringComparison.Ordinal);

    private static string[] Argv(JsonElement e) =>
        e.TryGetProperty("argv", out var a) ? [.. a.EnumerateArray().Select(x => x.GetString()!)] : [];

    private static bool IsExec(JsonElement e) => e.TryGetProperty("syscall", out var s) && s.GetString() is "execve" or "execveat";

    private static JsonElement ExecWith(List<JsonElement> events, params string[] argv) =>
        events.First(e => IsExec(e) && Argv(e).SequenceEqual(argv));

    private static List<JsonElement> WaitExecs(AgentRunner agent, params string[][] argvs)
    {
        List<JsonElement> events = [];
        agent.WaitFor(_ =>
        {
            events = agent.Events();
            return argvs.All(a => events.Any(e => IsExec(e) && Argv(e).SequenceEqual(a)));
        }, Wait, "the exec events of " + string.Join(" | ", argvs.Select(a => string.Join(' ', a))));
        return events;
    }

    private static void RunToEnd(string file, string[] args, string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo(file) { WorkingDirectory = workingDirectory ?? "/" };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        Assert.True(p.WaitForExit(30_000), $"{file} did not end");
    }

    [Fact]
    public void ShellScript_EachCommandNamesTheScriptAndItsInterpreterArgv()
    {
        using var agent = AgentRunner.Start(Rules());
        agent.WaitReady();
        string script = Path.Combine(_dir, "script.sh");
        File.WriteAllText(script, $"#!/bin/sh\n/bin/true one-{_key}\n/bin/true two-{_key}\n/bin/true three-{_key}\nexit 0\n");
        File.SetUnixFileMode(script, (UnixFileMode)0b111_101_101);

        // Run as ./script.sh from its directory (the kernel runs the #! line: argv "/bin/sh ./script.sh").
        RunToEnd("/bin/sh", ["-c", "./script.sh; exit $?"], _dir);

        var events = WaitExecs(agent, ["/bin/sh", "./script.sh"], ["/bin/true", $"one-{_key}"], ["/bin/true", $"two-{_key}"], ["/bin/true", $"three-{_key}"]);
        var scriptExec = ExecWith(events, "/bin/sh", "./script.sh");
        int scriptPid = scriptExec.GetProperty("pid").GetInt32();
        ulong scriptSerial = scriptExec.GetProperty("serial").GetUInt64();
        Assert.Equal(scriptSerial, scriptExec.GetProperty("context").GetProperty("exec_serial").GetUInt64());
        foreach (string n in new[] { "one", "two", "three" })
        {
            var ev = ExecWith(events, "/bin/true", $"{n}-{_key}");
            var context = ev.GetProperty("context");
            Assert.Equal("known", context.GetProperty("parent_state").GetString());
            var parent = context.GetProperty("parent");
            Assert.Equal(scriptPid, parent.GetProperty("pid").GetInt32());
            Assert.Equal(["/bin/sh", "./script.sh"], Argv(parent));
            Assert.Equal(scriptSerial, parent.GetProperty("exec_serial").GetUInt64());
            Assert.Equal(ev.GetProperty("serial").GetUInt64(), context.GetProperty("exec_serial").GetUInt64());
            Assert.Equal(scriptPid, context.GetProperty("ancestry")[0].GetProperty("pid").GetInt32());
            Assert.Equal("known", context.GetProperty("unit_state").GetString());
        }
        var status = agent.Metrics().Enrichment;
        Assert.True(status.Enabled);
        Assert.True(status.Processes > 0 && status.TableBytes > 0 && status.ProcScanned > 0, status.ToString());
        Assert.DoesNotContain("rules suggest", agent.Output); // the rules it needs are there: no warning
        Assert.Equal(0, agent.Stop());
    }

    [Fact]
    public void DoubleFork_MiddleExitsBeforeGrandchildExecs_AncestryReachesTheShell()
    {
        using var agent = AgentRunner.Start(Rules());
        agent.WaitReady();
        string marker = $"grandchild-{_key}";
        // shell -> middle (sh -c) -> grandchild (sh -c, in the background); the middle exits at once, the
        // grandchild execs echo 0.5 s later, by then an orphan the kernel has given to init (or a subreaper).
        string[] shell = ["/bin/sh", "-c", $"/bin/sh -c '/bin/sh -c \"sleep 0.5; exec /bin/echo {marker}\" & exit 0'; sleep 1.5; exit 0"];
        var psi = new ProcessStartInfo(shell[0]) { RedirectStandardOutput = true };
        foreach (string a in shell[1..])
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        int shellPid = p.Id;
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();

        var events = WaitExecs(agent, ["/bin/echo", marker]);
        var middleExec = events.First(e => IsExec(e) && Argv(e) is ["/bin/sh", "-c", var c] && c.StartsWith("/bin/sh -c \"sleep", StringComparison.Ordinal));
        int middlePid = middleExec.GetProperty("pid").GetInt32();
        var grandchild = ExecWith(events, "/bin/echo", marker);
        Assert.NotEqual(middlePid, grandchild.GetProperty("ppid").GetInt32()); // the kernel had reparented it
        static bool ExitOf(JsonElement e, int pid) => e.TryGetProperty("pid", out var p) && p.GetInt32() == pid && e.TryGetProperty("syscall", out var s) && s.GetString() == "exit_group";
        agent.WaitFor(_ => (events = agent.Events()).Any(e => ExitOf(e, middlePid)), Wait, "the middle's exit_group event:\n" +
            string.Join("\n", agent.Events().Where(e => e.TryGetProperty("pid", out var p) && p.GetInt32() == middlePid)));
        var middleExit = events.First(e => ExitOf(e, middlePid));
        Assert.True(middleExit.GetProperty("serial").GetUInt64() < grandchild.GetProperty("serial").GetUInt64(),
            "the middle had not exited before the exec:\n" + string.Join("\n", events.Where(e => e.ToString().Contains(marker, StringComparison.Ordinal) || (e.TryGetProperty("pid", out var p) && p.GetInt32() == middlePid))));
        var context = grandchild.GetProperty("context");
        Assert.Equal(middlePid, context.GetProperty("parent").GetProperty("pid").GetInt32());
        Assert.True(context.GetProperty("parent").GetProperty("exited").GetBoolean(), context.ToString());
        int[] chain = [.. context.GetProperty("ancestry").EnumerateArray().Select(a => a.GetProperty("pid").GetInt32())];
        Assert.Equal(middlePid, chain[0]);
        Assert.Contains(shellPid, chain);
        var shellLevel = context.GetProperty("ancestry").EnumerateArray().First(a => a.GetProperty("pid").GetInt32() == shellPid);
        Assert.False(shellLevel.TryGetProperty("unknown", out _));
        Assert.Equal(ExecWith(events, shell).GetProperty("serial").GetUInt64(), shellLevel.GetProperty("exec_serial").GetUInt64());
        Assert.Equal(0, agent.Stop());
    }

    /// <summary>The cgroup v2 mount (/sys/fs/cgroup/unified on a hybrid host, /sys/fs/cgroup on a unified one); else the name=systemd v1 hierarchy.</summary>
    private static string CgroupRoot()
    {
        foreach (string line in File.ReadAllLines("/proc/mounts"))
        {
            string[] f = line.Split(' ');
            if (f.Length > 2 && f[2] == "cgroup2")
            {
                return f[1];
            }
        }
        foreach (string line in File.ReadAllLines("/proc/mounts"))
        {
            string[] f = line.Split(' ');
            if (f.Length > 3 && f[2] == "cgroup" && f[3].Contains("name=systemd", StringComparison.Ordinal))
            {
                return f[1];
            }
        }
        throw new InvalidOperationException("no cgroup v2 mount and no name=systemd v1 hierarchy in /proc/mounts");
    }

    [Fact]
    public void ProcessMovedIntoContainerCgroup_CarriesTheId_ShortLivedChildInheritsIt()
    {
        string id = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()) + Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
        string cgroup = Path.Combine(CgroupRoot(), $"docker-{id}.scope");
        Directory.CreateDirectory(cgroup);
        try
        {
            using var agent = AgentRunner.Start(Rules());
            agent.WaitReady();
            // The moved shell forks a subshell that only exits (status 37): its one event, exit_group, is read
            // when the child is already exiting, so its own /proc says nothing and it inherits.
            string inner = $"( exit 37 ); /bin/true after-{_key}; sleep 1; exit 0";
            RunToEnd("/bin/sh", ["-c", $"echo $$ > {cgroup}/cgroup.procs && exec /bin/sh -c '{inner}'"]);

            var events = WaitExecs(agent, ["/bin/sh", "-c", inner], ["/bin/true", $"after-{_key}"]);
            var movedExec = ExecWith(events, "/bin/sh", "-c", inner);
            var moved = movedExec.GetProperty("context");
            Assert.Equal("known", moved.GetProperty("container_state").GetString());
            Assert.Equal(id, moved.GetProperty("container").GetProperty("id").GetString());
            Assert.Equal("docker", moved.GetProperty("container").GetProperty("runtime").GetString());
            Assert.False(moved.GetProperty("container").TryGetProperty("inherited", out _));
            Assert.EndsWith($"docker-{id}.scope", moved.GetProperty("cgroup").GetString());
            Assert.Equal($"docker-{id}.scope", moved.GetProperty("unit").GetString());

            int movedPid = movedExec.GetProperty("pid").GetInt32();
            bool IsChildExit(JsonElement e) => e.TryGetProperty("ppid", out var pp) && pp.GetInt32() == movedPid
                && e.GetProperty("records")[0].GetProperty("raw").GetString()!.Contains(" syscall=231 a0=25 ", StringComparison.Ordinal);
            agent.WaitFor(_ => (events = agent.Events()).Any(IsChildExit), Wait, "the subshell's exit_group event");
            var child = events.First(IsChildExit).GetProperty("context");
            Assert.Equal(movedPid, child.GetProperty("parent").GetProperty("pid").GetInt32());
            Assert.Equal(id, child.GetProperty("container").GetProperty("id").GetString());
            Assert.True(child.GetProperty("container").GetProperty("inherited").GetBoolean(), child.ToString());
            Assert.True(child.GetProperty("cgroup_inherited").GetBoolean());
            Assert.Equal(0, agent.Stop());
        }
        finally
        {
            // Empty by now (the shell has ended); rmdir of a cgroup directory.
            for (int i = 0; i < 50 && Directory.Exists(cgroup); i++)
            {
                try
                {
                    Directory.Delete(cgroup);
                }
                catch (IOException)
                {
                    Thread.Sleep(100);
                }
            }
        }
        Assert.False(Directory.Exists(cgroup), $"{cgroup} left behind");
    }

    [Fact]
    public void PidUsedTwice_EachIncarnationsChildrenNameTheRightParent()
    {
        using var agent = AgentRunner.Start(Rules());
        agent.WaitReady();
        for (int attempt = 0; attempt < 20; attempt++)
        {
            int target = int.Parse(File.ReadAllText("/proc/sys/kernel/ns_last_pid").Trim(), System.Globalization.CultureInfo.InvariantCulture) + 200;
            string a = $"a-{attempt}-{_key}", b = $"b-{attempt}-{_key}";
            // First incarnation: a shell forked by this test process.
            File.WriteAllText("/proc/sys/kernel/ns_last_pid", (target - 1).ToString(System.Globalization.CultureInfo.InvariantCulture));
            var first = Process.Start("/bin/sh", ["-c", $"/bin/true {a}; exit 0"])!;
            int firstPid = first.Id;
            first.WaitForExit();
            if (firstPid != target)
            {
                continue; // another process took the pid first
            }
            // Second incarnation: a shell forked by another shell.
            string innerB = $"/bin/true {b}; exit 0";
            RunToEnd("/bin/sh", ["-c", $"echo {target - 1} > /proc/sys/kernel/ns_last_pid; /bin/sh -c '{innerB}'; exit 0"]);

            var events = WaitExecs(agent, ["/bin/true", a], ["/bin/true", b], ["/bin/sh", "-c", innerB]);
            var secondShell = ExecWith(events, "/bin/sh", "-c", innerB);
            if (secondShell.GetProperty("pid").GetInt32() != target)
            {
                continue;
            }
            try
            {
                var firstShell = ExecWith(events, "/bin/sh", "-c", $"/bin/true {a}; exit 0");
                Assert.Equal(target, firstShell.GetProperty("pid").GetInt32());

                var ofFirst = ExecWith(events, "/bin/true", a).GetProperty("context");
                var ofSecond = ExecWith(events, "/bin/true", b).GetProperty("context");
                Assert.Equal(target, ofFirst.GetProperty("parent").GetProperty("pid").GetInt32());
                Assert.Equal(target, ofSecond.GetProperty("parent").GetProperty("pid").GetInt32());
                Assert.Equal(firstShell.GetProperty("serial").GetUInt64(), ofFirst.GetProperty("parent").GetProperty("exec_serial").GetUInt64());
                Assert.Equal(secondShell.GetProperty("serial").GetUInt64(), ofSecond.GetProperty("parent").GetProperty("exec_serial").GetUInt64());
                Assert.Equal(["/bin/sh", "-c", innerB], Argv(ofSecond.GetProperty("parent")));
                // Each incarnation's own parent: this test process, then the outer shell.
                Assert.Equal(Environment.ProcessId, ofFirst.GetProperty("ancestry")[1].GetProperty("pid").GetInt32());
                Assert.Equal(secondShell.GetProperty("ppid").GetInt32(), ofSecond.GetProperty("ancestry")[1].GetProperty("pid").GetInt32());
                Assert.NotEqual(Environment.ProcessId, secondShell.GetProperty("ppid").GetInt32());
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                throw new InvalidOperationException($"target {target}:\n" + string.Join("\n", events.Where(x => x.ToString().Contains($"{attempt}-{_key}", StringComparison.Ordinal) || (x.TryGetProperty("pid", out var p) && p.GetInt32() == target)).Select(x => x.GetProperty("records")[0].GetProperty("raw").GetString() + " => " + x.GetProperty("context"))), e);
            }
            Assert.Equal(0, agent.Stop());
            return;
        }
        Assert.Fail("no attempt got the same pid twice (other processes kept taking it)");
    }

    [Fact]
    public void MissingRules_OneWarningNamesThemAndPointsToRulesSuggest_NoRuleAdded()
    {
        using var agent = AgentRunner.Start($"-a always,exit -F arch=b64 -S execve -k {_key}\n");
        agent.WaitReady();
        string line = agent.WaitForOutput("rules suggest");

        Assert.Contains("fork (b64: clone, clone3, fork, vfork)", agent.Output);
        Assert.Contains("exit (b64: exit_group)", agent.Output);
        Assert.DoesNotContain(RuleAdvisor.Key, Sluice.Agent.Tests.Kernel.Auditd.Rules());
        Assert.Equal(1, agent.Output.Split('\n').Count(l => l.Contains("rules suggest", StringComparison.Ordinal)));
        Assert.Equal(0, agent.Stop());
        _ = line;
    }
}
