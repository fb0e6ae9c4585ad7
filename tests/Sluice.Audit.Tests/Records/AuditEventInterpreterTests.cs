using System.Text;
using Sluice.Audit.Records;

namespace Sluice.Audit.Tests.Records;

public sealed class AuditEventInterpreterTests
{
    /// <summary>Reassembles log lines and interprets the single event they make.</summary>
    internal static AuditEventSummary InterpretLines(params string[] lines)
    {
        AuditEventSummary? summary = null;
        var r = new AuditReassembler(ev =>
        {
            using (ev)
            {
                Assert.Null(summary);
                summary = AuditEventInterpreter.Interpret(ev);
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
}
