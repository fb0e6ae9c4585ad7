using System.Text;
using Sluice.Agent.Configuration;
using Sluice.Agent.Enrichment;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Tests.Enrichment;

public sealed class EnricherTests
{
    private const string Hex = "4f1c2a9b7e3d5f6a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a";
    private readonly EnrichmentEvents _ev = new();

    private static string S(Google.Protobuf.ByteString b) => b.ToStringUtf8();

    private static Enricher Replay(int depth = 8, int max = 1024, int maxArgs = 32, int maxArgBytes = 1024) =>
        new(new EnrichmentOptions { AncestryDepth = depth, MaxProcesses = max, MaxArgs = maxArgs, MaxArgBytes = maxArgBytes }, proc: null);

    [Fact]
    public void ScriptChildren_NameTheScriptWithItsArgvAndExecSerial()
    {
        var en = Replay();
        en.Enrich(_ev.Exec(100, 200, "/usr/bin/dash", ["/bin/sh", "./script.sh"]));
        uint scriptSerial = _ev.LastSerial;
        foreach (int child in new[] { 201, 202, 203 })
        {
            en.Enrich(_ev.Clone(100, 200, "/usr/bin/dash", child));
            var c = en.Enrich(_ev.Exec(200, child, "/usr/bin/true", ["true"]))!;

            Assert.Equal(ContextState.Known, c.ParentState);
            Assert.Equal(200u, c.Parent.Pid);
            Assert.Equal("/usr/bin/dash", S(c.Parent.Exe));
            Assert.Equal(["/bin/sh", "./script.sh"], c.Parent.Argv.Select(S));
            Assert.Equal(scriptSerial, c.Parent.ExecSerial);
            Assert.Equal(ProcessSource.Exec, c.Parent.Source);
            Assert.Equal(_ev.LastSerial, c.ExecSerial);
            Assert.Equal(ContextState.Unknown, c.ContainerState); // a replay: no cgroups
        }
    }

    [Fact]
    public void DoubleFork_MiddleExitsFirst_GrandchildReachesTheShell()
    {
        var en = Replay();
        en.Enrich(_ev.Exec(1, 100, "/usr/bin/bash", ["bash"]));
        en.Enrich(_ev.Fork(1, 100, "/usr/bin/bash", 101));
        en.Enrich(_ev.Clone(100, 101, "/usr/bin/bash", 102));
        en.Enrich(_ev.ExitGroup(100, 101, "/usr/bin/bash"));
        // The kernel has reparented 102 to init: its event says ppid=1.
        var c = en.Enrich(_ev.Exec(1, 102, "/usr/bin/sleep", ["sleep", "1"]))!;

        Assert.Equal(101u, c.Parent.Pid);
        Assert.True(c.Parent.Exited);
        Assert.Equal(ProcessSource.Fork, c.Parent.Source);
        Assert.Equal([101u, 100u, 1u], c.Ancestry.Select(a => a.Pid));
        Assert.False(c.Ancestry[1].Unknown);
        Assert.True(c.Ancestry[2].Unknown); // init was never seen in this replay
    }

    [Fact]
    public void Ancestry_StopsAtDepth_WithTruncatedFlag()
    {
        var en = Replay(depth: 2);
        en.Enrich(_ev.Exec(1, 10, "/a", ["a"]));
        en.Enrich(_ev.Fork(1, 10, "/a", 11));
        en.Enrich(_ev.Exec(10, 11, "/b", ["b"]));
        en.Enrich(_ev.Fork(10, 11, "/b", 12));
        en.Enrich(_ev.Exec(11, 12, "/c", ["c"]));
        en.Enrich(_ev.Fork(11, 12, "/c", 13));
        var c = en.Enrich(_ev.Exec(12, 13, "/d", ["d"]))!;

        Assert.Equal([12u, 11u], c.Ancestry.Select(a => a.Pid));
        Assert.True(c.AncestryTruncated);
        Assert.Equal("/b", S(c.Ancestry[1].Exe));
    }

    [Fact]
    public void UnknownProcess_IsUnknownNeverGuessed()
    {
        var en = Replay();
        var c = en.Enrich(_ev.Open(555, 556, "/usr/bin/cat"))!;

        Assert.Equal(ContextState.Unknown, c.ParentState);
        Assert.Null(c.Parent);
        Assert.Equal(ContextState.Unknown, c.ContainerState);
        Assert.Equal(ContextState.Unknown, c.UnitState);
        Assert.Equal(0ul, c.ExecSerial);
        var only = Assert.Single(c.Ancestry);
        Assert.Equal((555u, true), (only.Pid, only.Unknown));
        Assert.Equal(1, en.ParentUnknown);
    }

    [Fact]
    public void PidReuse_SecondIncarnationHasItsOwnParentAndSerial()
    {
        var en = Replay();
        en.Enrich(_ev.Exec(1, 100, "/usr/bin/bash", ["bash", "first"]));
        en.Enrich(_ev.Exec(1, 300, "/usr/bin/zsh", ["zsh", "second"]));
        en.Enrich(_ev.Fork(1, 100, "/usr/bin/bash", 500));
        var first = en.Enrich(_ev.Exec(100, 500, "/usr/bin/true", ["true", "one"]))!;
        uint firstSerial = _ev.LastSerial;
        Assert.Equal(100u, first.Parent.Pid);
        en.Enrich(_ev.ExitGroup(100, 500, "/usr/bin/true"));

        // The same pid, forked by another process.
        en.Enrich(_ev.Fork(1, 300, "/usr/bin/zsh", 500));
        var second = en.Enrich(_ev.Open(300, 500, "/usr/bin/zsh"))!;
        Assert.Equal(300u, second.Parent.Pid);
        Assert.Equal("/usr/bin/zsh", S(second.Parent.Exe));
        Assert.Equal(0ul, second.ExecSerial); // not exec'd yet: not the first one's serial
        var exec2 = en.Enrich(_ev.Exec(300, 500, "/usr/bin/id", ["id"]))!;
        Assert.NotEqual(firstSerial, exec2.ExecSerial);
        Assert.Equal(300u, exec2.Parent.Pid);

        // Without an exit event in between either: the fork says it is a new process.
        en.Enrich(_ev.Fork(1, 100, "/usr/bin/bash", 500));
        var third = en.Enrich(_ev.Open(100, 500, "/usr/bin/bash"))!;
        Assert.Equal(100u, third.Parent.Pid);
        Assert.Equal(0ul, third.ExecSerial);
    }

    [Fact]
    public void PidReuse_ChildOfFirstIncarnation_KeepsThatParent()
    {
        var en = Replay();
        en.Enrich(_ev.Exec(1, 100, "/usr/bin/bash", ["bash"]));
        en.Enrich(_ev.Fork(1, 100, "/usr/bin/bash", 200));
        en.Enrich(_ev.Exec(100, 200, "/usr/bin/make", ["make"]));
        uint makeSerial = _ev.LastSerial;
        en.Enrich(_ev.Fork(100, 200, "/usr/bin/make", 201));
        en.Enrich(_ev.Exec(200, 201, "/usr/bin/cc", ["cc"]));
        en.Enrich(_ev.ExitGroup(100, 200, "/usr/bin/make"));
        // pid 200 is used again by someone else while cc still runs
        en.Enrich(_ev.Exec(1, 900, "/usr/bin/cron", ["cron"]));
        en.Enrich(_ev.Fork(1, 900, "/usr/bin/cron", 200));
        en.Enrich(_ev.Exec(900, 200, "/usr/bin/backup", ["backup"]));

        var c = en.Enrich(_ev.Open(1, 201, "/usr/bin/cc"))!;

        Assert.Equal(200u, c.Parent.Pid);
        Assert.Equal("/usr/bin/make", S(c.Parent.Exe));
        Assert.Equal(makeSerial, c.Parent.ExecSerial);
    }

    [Fact]
    public void CloneThread_And_Clone3_DoNotMakeProcesses()
    {
        var en = Replay();
        en.Enrich(_ev.Exec(1, 100, "/usr/bin/app", ["app"]));
        en.Enrich(_ev.Clone(1, 100, "/usr/bin/app", 101, flags: 0x3d0f00)); // CLONE_THREAD set
        en.Enrich(_ev.Clone3(1, 100, "/usr/bin/app", 102));
        Assert.Equal(1, en.Table.Count);

        // clone3's child is made at its first event (a thread never has one).
        var c = en.Enrich(_ev.Exec(100, 102, "/usr/bin/helper", ["helper"]))!;
        Assert.Equal(100u, c.Parent.Pid);
        Assert.Equal(2, en.Table.Count);
    }

    [Fact]
    public void ChildEventBeforeParentsFork_StaysOneProcess()
    {
        var en = Replay();
        en.Enrich(_ev.Exec(1, 100, "/usr/bin/bash", ["bash"]));
        var c = en.Enrich(_ev.Exec(100, 101, "/usr/bin/ls", ["ls"]))!;
        uint lsSerial = _ev.LastSerial;
        Assert.Equal(100u, c.Parent.Pid);
        en.Enrich(_ev.Fork(1, 100, "/usr/bin/bash", 101)); // logged after the child's exec
        var again = en.Enrich(_ev.Open(100, 101, "/usr/bin/ls"))!;
        Assert.Equal(lsSerial, again.ExecSerial);
    }

    [Fact]
    public void HostileArgvAndExe_AreBoundedBytes()
    {
        var en = Replay(maxArgs: 3, maxArgBytes: 16);
        en.Enrich(_ev.ExecRaw(1, 100, "2F746D702F0A6576696CFF", "argc=5 a0=\"sh\" a1=0A0D1B5B306D a2=FFFE a3=\"x\" a4=\"y\""));
        en.Enrich(_ev.Fork(1, 100, "/x", 101));
        var c = en.Enrich(_ev.Exec(100, 101, "/usr/bin/true", ["true"]))!;

        Assert.Equal("2F746D702F0A6576696CFF", Convert.ToHexString(c.Parent.Exe.ToByteArray()));
        Assert.Equal(3, c.Parent.Argv.Count);
        Assert.Equal([0x0a, 0x0d, 0x1b, 0x5b, 0x30, 0x6d], c.Parent.Argv[1].ToByteArray());
        Assert.Equal([0xff, 0xfe], c.Parent.Argv[2].ToByteArray());
        Assert.True(c.Parent.ArgvTruncated);
    }

    [Fact]
    public void ArgvByteBound_CutsTheArgumentThatCrossesIt()
    {
        var en = Replay(maxArgBytes: 10);
        en.Enrich(_ev.Exec(1, 100, "/a", ["12345678", "abcdefgh", "z"]));
        en.Enrich(_ev.Fork(1, 100, "/a", 101));
        var c = en.Enrich(_ev.Open(100, 101, "/a"))!;

        Assert.Equal(["12345678", "ab"], c.Parent.Argv.Select(S));
        Assert.True(c.Parent.ArgvTruncated);
    }

    [Fact]
    public void Proc_GivesContainerAndUnit_ShortLivedChildInheritsIt()
    {
        var proc = new FakeProc();
        proc.Add(1, 0, "/sbin/init", "/init.scope");
        proc.Add(50, 1, "/usr/bin/dockerd", "/system.slice/docker.service");
        proc.Add(100, 50, "/bin/sh", $"/system.slice/docker-{Hex}.scope");
        var en = new Enricher(new EnrichmentOptions(), proc);
        Assert.Equal(3, en.ScanProc(1_700_000_000_000));

        var own = en.Enrich(_ev.Fork(50, 100, "/bin/sh", 101))!;
        Assert.Equal(ContextState.Known, own.ContainerState);
        Assert.Equal((Hex, "docker", false), (own.Container.Id, own.Container.Runtime, own.Container.Inherited));
        Assert.Equal("docker-" + Hex + ".scope", own.Unit);
        Assert.Equal([50u, 1u], own.Ancestry.Select(a => a.Pid));
        Assert.False(own.AncestryTruncated);

        // 101 is gone before its /proc is read: it was born in its parent's cgroup.
        var child = en.Enrich(_ev.Exec(100, 101, "/usr/bin/true", ["true"]))!;
        Assert.Equal(Hex, child.Container.Id);
        Assert.True(child.Container.Inherited);
        Assert.True(child.CgroupInherited);

        var host = en.Enrich(_ev.Open(1, 50, "/usr/bin/dockerd"))!;
        Assert.Equal(ContextState.Known, host.ContainerState);
        Assert.Null(host.Container);
        Assert.Equal("docker.service", host.Unit);
    }

    [Fact]
    public void Proc_ZombieWithoutCgroup_InheritsFromItsParent()
    {
        var proc = new FakeProc();
        proc.Add(100, 1, "/bin/sh", $"/system.slice/docker-{Hex}.scope");
        var en = new Enricher(new EnrichmentOptions(), proc);
        en.ScanProc(1_700_000_000_000);
        en.Enrich(_ev.Fork(1, 100, "/bin/sh", 101));
        // 101 is a zombie when read: /proc/101 exists but its cgroup says nothing (ProcReader leaves it out).
        proc.Processes[101] = proc.Processes[100] with { Pid = 101, Ppid = 100, Cgroup = null, CgroupInfo = null };

        var c = en.Enrich(_ev.Exec(100, 101, "/usr/bin/true", ["true"]))!;

        Assert.Equal(Hex, c.Container.Id);
        Assert.True(c.Container.Inherited);
    }

    [Fact]
    public void Proc_LaterProcessWithSamePid_IsNotTaken()
    {
        var proc = new FakeProc();
        // /proc/700 is a process started after the event (start time 10 s after it)
        proc.Add(700, 1, "/usr/bin/other", "/system.slice/other.service", startMs: 1_700_000_010_000 + 20_000);
        var en = new Enricher(new EnrichmentOptions(), proc);

        var c = en.Enrich(_ev.Open(700, 701, "/usr/bin/x"))!;

        Assert.Equal(ContextState.Unknown, c.ParentState);
    }

    [Fact]
    public void Proc_MissingPid_IsReadOnce()
    {
        var proc = new FakeProc();
        var en = new Enricher(new EnrichmentOptions(), proc);
        en.Enrich(_ev.Open(700, 701, "/usr/bin/x"));
        int reads = proc.Reads;
        en.Enrich(_ev.Open(700, 701, "/usr/bin/x"));
        en.Enrich(_ev.Open(700, 701, "/usr/bin/x"));

        Assert.Equal(reads, proc.Reads);
    }

    [Fact]
    public void KnownProcess_ContextMessagesAreReused()
    {
        var en = Replay();
        en.Enrich(_ev.Exec(1, 100, "/usr/bin/bash", ["bash"]));
        en.Enrich(_ev.Fork(1, 100, "/usr/bin/bash", 101));
        var events = Enumerable.Range(0, 50).Select(_ => _ev.Open(100, 101, "/usr/bin/bash")).ToList();
        var first = en.Enrich(events[0])!;
        var parent = first.Parent;
        var ancestor = first.Ancestry[0];
        en.Enrich(events[1]);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 2; i < events.Count; i++)
        {
            en.Enrich(events[i]);
        }
        long perEvent = (GC.GetAllocatedBytesForCurrentThread() - before) / (events.Count - 2);
        var last = en.Enrich(events[^1])!;

        Assert.Same(first, last);
        Assert.Same(parent, last.Parent);
        Assert.Same(ancestor, last.Ancestry[0]);
        Assert.True(perEvent < 200, $"{perEvent} bytes per event of a known process");
    }

    [Fact]
    public void ExecOfANewProcess_ReadsOnlyStartAndCgroupFromProc_ImageFromTheEvent()
    {
        var proc = new FakeProc();
        proc.Add(100, 1, "/bin/sh", "/system.slice/cron.service");
        proc.Add(101, 100, "/usr/bin/stale-image", $"/system.slice/docker-{Hex}.scope");
        var en = new Enricher(new EnrichmentOptions { ScanProcAtStart = false }, proc);

        var c = en.Enrich(_ev.Exec(100, 101, "/usr/bin/backup", ["backup", "--all"]))!;
        Assert.Equal(Hex, c.Container.Id);
        Assert.Equal("/bin/sh", S(c.Parent.Exe));
        // (the context is reused: read it before the next event)
        var child = en.Enrich(_ev.Open(101, 102, "/usr/bin/tar"))!;

        // 101 read lightly (its exec event had the image), 100 (the parent, no event of its own) in full, 102 in full
        Assert.Equal(1, proc.LightReads);
        Assert.Equal("/usr/bin/backup", S(child.Parent.Exe));
        Assert.Equal(["backup", "--all"], child.Parent.Argv.Select(S));
    }
}
