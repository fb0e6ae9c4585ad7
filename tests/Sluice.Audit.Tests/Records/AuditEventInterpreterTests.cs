using System.Text;
using Sluice.Audit.Accounts;
using Sluice.Audit.Records;

namespace Sluice.Audit.Tests.Records;

public sealed class AuditEventInterpreterTests
{
    /// <summary>Reassembles log lines and interprets the single event they make.</summary>
    internal static AuditEventSummary InterpretLines(params string[] lines) => InterpretLines(null, lines);

    /// <summary>The same, naming ids with <paramref name="names"/>.</summary>
    internal static AuditEventSummary InterpretLines(AccountNameCache? names, params string[] lines)
    {
        AuditEventSummary? summary = null;
        var r = new AuditReassembler(ev =>
        {
            using (ev)
            {
                Assert.Null(summary);
                summary = AuditEventInterpreter.Interpret(ev, names);
            }
        });
        foreach (string line in lines)
        {
            Assert.Equal(AuditParseError.None, r.AddLogLine(Encoding.UTF8.GetBytes(line)));
        }
        r.Flush();
        return summary ?? throw new InvalidOperationException("no event");
    }

    private static string S(byte[]? b) => b is null ? "<null>" : Encoding.UTF8.GetString(b);

    [Fact]
    public void Interpret_ExecveEvent_FillsSummary()
    {
        var s = InterpretLines(
            "type=SYSCALL msg=audit(1795567850.751:1173852): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=0 items=2 ppid=10969 pid=11060 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm=\"echo\" exe=\"/usr/bin/echo\" key=\"exec\"",
            "type=EXECVE msg=audit(1795567850.751:1173852): argc=5 a0=\"/bin/echo\" a1=617267207769746820737061636573 a2=71756F74652264 a3=7461620978 a4=C3BC6EC3AF63C3B864C3A9",
            "type=CWD msg=audit(1795567850.751:1173852): cwd=2F746D702F612062",
            "type=PATH msg=audit(1795567850.751:1173852): item=0 name=\"/bin/echo\" inode=1 nametype=NORMAL",
            "type=PATH msg=audit(1795567850.751:1173852): item=1 name=(null) inode=2 nametype=NORMAL",
            "type=PROCTITLE msg=audit(1795567850.751:1173852): proctitle=2F62696E2F6563686F00617267");

        Assert.Equal("execve", s.Syscall);
        Assert.Equal("x86_64", s.ArchName);
        Assert.True(s.Success);
        Assert.Equal(0, s.Exit);
        Assert.Null(s.ExitName);
        Assert.Equal(11060u, s.Pid);
        Assert.Equal(10969u, s.Ppid);
        Assert.Equal(1000u, s.Auid);
        Assert.Equal(3u, s.Ses);
        Assert.Equal("pts0", s.Tty);
        Assert.Equal("echo", S(s.Comm));
        Assert.Equal("/usr/bin/echo", S(s.Exe));
        Assert.Equal("exec", S(s.Key));
        Assert.Equal("/tmp/a b", S(s.Cwd));
        Assert.Equal(["/bin/echo", "arg with spaces", "quote\"d", "tab\tx", "ünïcødé"], s.Argv!.Select(S));
        Assert.True(s.ArgvComplete);
        Assert.Equal(5, s.Argc);
        Assert.Equal(["/bin/echo", ""], s.Paths!.Select(S));
        Assert.Equal(["/bin/echo", "arg"], s.Proctitle!.Select(S));
        Assert.Equal(0, s.FieldErrors);
    }

    [Fact]
    public void Interpret_FailedOpen_ErrnoName()
    {
        var s = InterpretLines("type=SYSCALL msg=audit(1.000:1): arch=c000003e syscall=257 success=no exit=-13 pid=5 comm=\"cat\" exe=\"/usr/bin/cat\" key=\"access\"",
            "type=PROCTITLE msg=audit(1.000:1): proctitle=\"cat\"");

        Assert.Equal("openat", s.Syscall);
        Assert.False(s.Success);
        Assert.Equal(-13, s.Exit);
        Assert.Equal("EACCES", s.ExitName);
        Assert.Equal(["cat"], s.Proctitle!.Select(S));
    }

    [Fact]
    public void Interpret_I386Arch_UsesItsTable()
    {
        var s = InterpretLines("type=SYSCALL msg=audit(1.000:1): arch=40000003 syscall=11 success=yes exit=0 pid=5");

        Assert.Equal("i386", s.ArchName);
        Assert.Equal("execve", s.Syscall);
    }

    [Fact]
    public void Interpret_UnknownSyscallNumber_KeepsNumber()
    {
        var s = InterpretLines("type=SYSCALL msg=audit(1.000:1): arch=c000003e syscall=9999 success=yes exit=0");

        Assert.Equal("9999", s.Syscall);
    }

    [Fact]
    public void Interpret_HexKeyWithSeveralKeys_KeepsSeparator()
    {
        // two keys: the kernel joins them with 0x01 and hex-encodes the whole
        var s = InterpretLines("type=SYSCALL msg=audit(1.000:1): arch=c000003e syscall=2 key=6B31016B32");

        Assert.Equal("k1\u0001k2", S(s.Key));
    }

    [Fact]
    public void Interpret_HexCommAndExe_Decoded()
    {
        var s = InterpretLines("type=SYSCALL msg=audit(1.000:1): arch=c000003e syscall=2 comm=6120620A exe=2F746D702F782079 key=(null)");

        Assert.Equal("a b\n", S(s.Comm));
        Assert.Equal("/tmp/x y", S(s.Exe));
        Assert.Null(s.Key);
    }

    [Fact]
    public void Interpret_UserSpaceRecord_FieldsFromEnvelope()
    {
        var s = InterpretLines("type=USER_AUTH msg=audit(1795567851.999:1174400): pid=11100 uid=0 auid=4294967295 ses=4294967295 msg='op=PAM:authentication grantors=pam_rootok acct=\"corpususer\" exe=\"/usr/bin/su\" hostname=? addr=? terminal=/dev/pts/0 res=success'");

        Assert.Equal(11100u, s.Pid);
        Assert.Equal(uint.MaxValue, s.Auid);
        Assert.Equal("/usr/bin/su", S(s.Exe));
        Assert.True(s.Success);
        Assert.Null(s.Syscall);
    }

    [Fact]
    public void Interpret_SyscallWinsOverEarlierRecord()
    {
        var s = InterpretLines(
            "type=CONFIG_CHANGE msg=audit(1.000:1): auid=7 ses=8 op=add_rule key=\"exec\" list=4 res=0",
            "type=SYSCALL msg=audit(1.000:1): arch=c000003e syscall=44 success=yes exit=60 auid=4294967295 ses=9 key=(null)",
            "type=PROCTITLE msg=audit(1.000:1): proctitle=61");

        Assert.Equal(uint.MaxValue, s.Auid);
        Assert.Equal(9u, s.Ses);
        Assert.True(s.Success);
        Assert.Equal("exec", S(s.Key));
    }

    [Fact]
    public void Interpret_SplitLongArgument_Rebuilt()
    {
        string hex = Convert.ToHexString(Encoding.ASCII.GetBytes(new string('A', 30)));
        var s = InterpretLines(
            "type=EXECVE msg=audit(1.000:1): argc=3 a0=\"/bin/true\" a1_len=60 a1[0]=" + hex[..20] + " a1[1]=" + hex[20..40],
            "type=EXECVE msg=audit(1.000:1): a1[2]=" + hex[40..] + " a2=\"z\"");

        Assert.Equal(["/bin/true", new string('A', 30), "z"], s.Argv!.Select(S));
        Assert.True(s.ArgvComplete);
    }

    [Fact]
    public void Interpret_MissingChunkOrArgs_MarkedIncomplete()
    {
        var s = InterpretLines(
            "type=EXECVE msg=audit(1.000:1): argc=3 a0=\"/bin/true\" a1_len=4 a1[0]=\"ab\"",
            "type=EXECVE msg=audit(1.000:1): a1[2]=\"cd\"");

        Assert.False(s.ArgvComplete);
        Assert.Equal(["/bin/true", "abcd"], s.Argv!.Select(S));
    }

    [Theory]
    [InlineData("020000507F0000010000000000000000", "inet", "127.0.0.1", 80)]
    [InlineData("0A001F90000000000000000000000000000000000000000100000000", "inet6", "::1", 8080)]
    public void Interpret_InetSockaddr_Decoded(string saddr, string family, string address, int port)
    {
        var s = InterpretLines("type=SOCKADDR msg=audit(1.000:1): saddr=" + saddr);

        Assert.Equal(family, s.SocketAddress!.Family);
        Assert.Equal(address, s.SocketAddress.Address);
        Assert.Equal((ushort)port, s.SocketAddress.Port);
    }

    [Fact]
    public void Interpret_UnixPathAndAbstract_Decoded()
    {
        var path = InterpretLines("type=SOCKADDR msg=audit(1.000:1): saddr=01002F72756E2F782E736F636B00000000").SocketAddress!;
        var abs = InterpretLines("type=SOCKADDR msg=audit(1.000:1): saddr=0100006162737472616374736F636B").SocketAddress!;

        Assert.Equal(("unix", "/run/x.sock", false), (path.Family, S(path.Path), path.IsAbstract));
        Assert.Equal(("unix", "abstractsock", true), (abs.Family, S(abs.Path), abs.IsAbstract));
        Assert.Equal("unix @abstractsock", abs.ToString());
    }

    [Fact]
    public void Interpret_NetlinkSockaddr_Decoded()
    {
        var nl = InterpretLines("type=SOCKADDR msg=audit(1.000:1): saddr=10000000D204000001000000").SocketAddress!;

        Assert.Equal("netlink", nl.Family);
        Assert.Equal(1234u, nl.NetlinkPid);
        Assert.Equal(1u, nl.NetlinkGroups);
    }

    [Fact]
    public void Interpret_BadSockaddrAndBadNumbers_CountedAsFieldErrors()
    {
        var s = InterpretLines(
            "type=SYSCALL msg=audit(1.000:1): arch=zz syscall=x pid=-1 comm=\"unterminated",
            "type=SOCKADDR msg=audit(1.000:1): saddr=0");

        Assert.Null(s.SocketAddress);
        Assert.Null(s.Arch);
        Assert.True(s.FieldErrors >= 4, $"{s.FieldErrors} field errors");
    }

    private static readonly AccountNameCache FixtureNames = new(RepoPaths.Fixture("accounts"));

    private const string NamedSyscall =
        "type=SYSCALL msg=audit(1795567850.751:1173900): arch=c000003e syscall=257 success=no exit=-13 a0=ffffff9c a1=1 a2=0 a3=0 items=2 ppid=1 pid=2 auid=1001 uid=1001 gid=1001 euid=0 suid=1 fsuid=65534 egid=42 sgid=1 fsgid=65534 tty=pts0 ses=3 comm=\"cat\" exe=\"/usr/bin/cat\" key=(null)";

    [Fact]
    public void Interpret_WithNames_NamesEveryIdOfTheSyscall()
    {
        var s = InterpretLines(FixtureNames,
            NamedSyscall,
            "type=PATH msg=audit(1795567850.751:1173900): item=0 name=\"/etc/\" inode=19 dev=fe:00 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT",
            "type=PATH msg=audit(1795567850.751:1173900): item=1 name=\"/etc/shadow\" inode=20 dev=fe:00 mode=0100640 ouid=0 ogid=42 rdev=00:00 nametype=NORMAL",
            "type=EOE msg=audit(1795567850.751:1173900): ");

        AuditEventNames n = Assert.IsType<AuditEventNames>(s.Names);
        Assert.Equal(("corpususer", "corpususer", "root", "daemon", "nobody"), (n.Uid, n.Auid, n.Euid, n.Suid, n.Fsuid));
        Assert.Equal(("corpususer", "shadow", "daemon", "nogroup"), (n.Gid, n.Egid, n.Sgid, n.Fsgid));
        Assert.Equal<string?>(["root", "root"], n.PathOuid!.AsEnumerable());
        Assert.Equal<string?>(["root", "shadow"], n.PathOgid!.AsEnumerable());
        // the numbers are untouched
        Assert.Equal((1001u, 1001u, 0u, 1001u, 42u), (s.Uid!.Value, s.Auid!.Value, s.Euid!.Value, s.Gid!.Value, s.Egid!.Value));
    }

    [Fact]
    public void Interpret_WithoutNames_NoNamesAndSameSummary()
    {
        var off = InterpretLines(NamedSyscall);
        var on = InterpretLines(FixtureNames, NamedSyscall);

        Assert.Null(off.Names);
        Assert.NotNull(on.Names);
        Assert.Equal((off.Uid, off.Auid, off.Euid, off.Gid, off.Egid, off.Syscall, off.ExitName, off.FieldErrors),
            (on.Uid, on.Auid, on.Euid, on.Gid, on.Egid, on.Syscall, on.ExitName, on.FieldErrors));
    }

    [Fact]
    public void Interpret_AuidUnsetAndUnknownIds_NoName()
    {
        var s = InterpretLines(FixtureNames,
            "type=SYSCALL msg=audit(1795567850.751:1173901): arch=c000003e syscall=39 success=yes exit=7 a0=0 a1=0 a2=0 a3=0 items=0 ppid=1 pid=7 auid=4294967295 uid=0 gid=0 euid=3000 suid=3000 fsuid=3000 egid=3000 sgid=3000 fsgid=3000 tty=(none) ses=4294967295 comm=\"x\" exe=\"/x\" key=(null)",
            "type=EOE msg=audit(1795567850.751:1173901): ");

        Assert.Equal(uint.MaxValue, s.Auid);
        AuditEventNames n = Assert.IsType<AuditEventNames>(s.Names);
        Assert.Null(n.Auid);
        Assert.Equal(("root", "root"), (n.Uid, n.Gid));
        Assert.All(new[] { n.Euid, n.Suid, n.Fsuid, n.Egid, n.Sgid, n.Fsgid }, Assert.Null);
        Assert.Null(n.PathOuid);
    }

    [Fact]
    public void Interpret_NoIdHasAName_NamesNull()
    {
        var s = InterpretLines(FixtureNames,
            "type=SYSCALL msg=audit(1795567850.751:1173902): arch=c000003e syscall=39 success=yes exit=7 a0=0 a1=0 a2=0 a3=0 items=1 ppid=1 pid=7 auid=4294967295 uid=3000 gid=3000 euid=3000 suid=3000 fsuid=3000 egid=3000 sgid=3000 fsgid=3000 tty=(none) ses=4294967295 comm=\"x\" exe=\"/x\" key=(null)",
            "type=PATH msg=audit(1795567850.751:1173902): item=0 name=\"/x\" inode=1 dev=fe:00 mode=0100644 ouid=3000 ogid=3000 rdev=00:00 nametype=NORMAL",
            "type=EOE msg=audit(1795567850.751:1173902): ");

        Assert.Null(s.Names);
    }

    [Fact]
    public void Interpret_OnlyALaterPathHasAnOwnerName_ListsStayParallelToPaths()
    {
        var s = InterpretLines(FixtureNames,
            "type=SYSCALL msg=audit(1795567850.751:1173903): arch=c000003e syscall=82 success=yes exit=0 a0=0 a1=0 a2=0 a3=0 items=3 ppid=1 pid=7 auid=4294967295 uid=3000 gid=3000 euid=3000 suid=3000 fsuid=3000 egid=3000 sgid=3000 fsgid=3000 tty=(none) ses=4294967295 comm=\"mv\" exe=\"/bin/mv\" key=(null)",
            "type=PATH msg=audit(1795567850.751:1173903): item=0 name=\"/a\" inode=1 dev=fe:00 mode=0100644 ouid=3000 ogid=3000 rdev=00:00 nametype=DELETE",
            "type=PATH msg=audit(1795567850.751:1173903): item=1 name=(null) nametype=UNKNOWN",
            "type=PATH msg=audit(1795567850.751:1173903): item=2 name=\"/b\" inode=2 dev=fe:00 mode=0100644 ouid=3000 ogid=1 rdev=00:00 nametype=CREATE",
            "type=PATH msg=audit(1795567850.751:1173903): item=3 name=\"/c\" inode=3 dev=fe:00 mode=0100644 ouid=1001 ogid=3000 rdev=00:00 nametype=CREATE",
            "type=EOE msg=audit(1795567850.751:1173903): ");

        AuditEventNames n = Assert.IsType<AuditEventNames>(s.Names);
        Assert.Equal(4, s.Paths!.Count);
        Assert.Equal<string?>([null, null, null, "corpususer"], n.PathOuid!.AsEnumerable());
        Assert.Equal<string?>([null, null, "daemon", null], n.PathOgid!.AsEnumerable());
        Assert.Null(n.Uid);
    }

    [Theory]
    [InlineData("\"/tmp/a ouid=1001\"")]
    [InlineData("2F746D702F61206F7569643D31303031")]
    public void Interpret_PathNameHoldsOuidText_OwnerFromTheField(string name)
    {
        var s = InterpretLines(FixtureNames,
            NamedSyscall,
            $"type=PATH msg=audit(1795567850.751:1173900): item=0 name={name} inode=20 dev=fe:00 mode=0100640 ouid=0 ogid=42 rdev=00:00 nametype=NORMAL",
            "type=EOE msg=audit(1795567850.751:1173900): ");

        Assert.Equal("/tmp/a ouid=1001", S(s.Paths![0]));
        Assert.Equal("root", s.Names!.PathOuid![0]);
        Assert.Equal("shadow", s.Names.PathOgid![0]);
    }

    [Fact]
    public void Interpret_ManyEvents_ShareTheCachedNameStrings()
    {
        var first = InterpretLines(FixtureNames, NamedSyscall);
        var second = InterpretLines(FixtureNames, NamedSyscall.Replace(":1173900)", ":1173904)", StringComparison.Ordinal));

        Assert.Same(first.Names!.Uid, second.Names!.Uid);
        Assert.Same(first.Names.Egid, second.Names.Egid);
        Assert.Same(FixtureNames.UserName(1001), first.Names.Auid);
    }

    [Fact]
    public void Interpret_UserSpaceRecord_NamesItsIds()
    {
        var s = InterpretLines(FixtureNames,
            "type=USER_LOGIN msg=audit(1795567850.751:1173905): pid=9 uid=0 auid=1001 ses=5 msg='op=login id=1001 exe=\"/usr/sbin/sshd\" hostname=? addr=10.0.0.1 terminal=sshd res=success'");

        AuditEventNames n = Assert.IsType<AuditEventNames>(s.Names);
        Assert.Equal(("root", "corpususer"), (n.Uid, n.Auid));
    }
}
