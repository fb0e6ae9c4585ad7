using System.Diagnostics;
using Sluice.Audit.Netlink;
using Sluice.Audit.Tables;
using Sluice.Testing;

namespace Sluice.Audit.Tests.Netlink;

[Collection(KernelAuditFixture.Collection)]
public sealed class AuditEventSocketTests : IDisposable
{
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(15);
    private readonly KernelStateGuard _guard = new();
    private readonly AuditControlClient _control = AuditControlClient.Open();

    public AuditEventSocketTests()
    {
        // Never let a test stall the machine: a full backlog drops instead of sleeping.
        _control.SetBacklogWaitTime(0);
        _control.SetEnabled(1);
    }

    public void Dispose()
    {
        _control.Dispose();
        _guard.Dispose();
    }

    [Fact]
    public void ClaimConsumer_ThenRelease_KernelShowsPidThenZero()
    {
        using var socket = AuditEventSocket.Open(AuditReceiveMode.Unicast);

        socket.ClaimConsumer();
        uint claimed = _control.GetStatus().Pid;
        socket.ReleaseConsumer();
        uint released = _control.GetStatus().Pid;

        Assert.Equal((uint)Environment.ProcessId, claimed);
        Assert.Equal(0u, released);
        Assert.False(socket.IsConsumer);
    }

    [Fact]
    public void ClaimConsumer_WhileAnotherProcessHolds_ThrowsNamingIt()
    {
        using var holder = ConsumerHolder.Start();
        using var socket = AuditEventSocket.Open(AuditReceiveMode.Unicast);

        var e = Assert.Throws<AuditException>(socket.ClaimConsumer);

        Assert.Equal(AuditErrorKind.ConsumerRegistered, e.Kind);
        Assert.Equal(Errno.EEXIST, e.Errno);
        Assert.Equal($"another audit consumer is registered: pid {holder.Pid} (audit_holder)", e.Message);
        Assert.Equal((uint)holder.Pid, _control.GetStatus().Pid);
    }

    [Fact]
    public void Drain_BinTrueSpawned_ReceivesItsRecordsUnderOneSerial()
    {
        string key = TestRules.UniqueKey("exec");
        var rule = TestRules.ExitRule(key, [TestRules.Execve], ppid: (uint)Environment.ProcessId);
        using var socket = AuditEventSocket.Open(AuditReceiveMode.Unicast);
        socket.SetReceiveBuffer(8 << 20);
        socket.ClaimConsumer();
        _control.AddRule(rule);
        int child;
        var sink = new RecordCollector();
        try
        {
            using (var p = Process.Start(new ProcessStartInfo("/bin/true", "sluice-marker") { UseShellExecute = false })!)
            {
                child = p.Id;
                p.WaitForExit();
            }
            Assert.True(sink.DrainUntil(socket, s => s.SyscallSerialOf(child) is ulong serial
                && s.EventOf(serial).Any(r => r.Type == AuditMessageType.Eoe), s_wait), "no complete event for /bin/true arrived");
        }
        finally
        {
            _control.DeleteRule(rule);
        }

        ulong serial = sink.SyscallSerialOf(child)!.Value;
        var ev = sink.EventOf(serial);
        var types = ev.Select(r => r.Type).ToList();
        Assert.Contains(AuditMessageType.Syscall, types);
        Assert.Contains(AuditMessageType.Execve, types);
        Assert.Contains(AuditMessageType.Cwd, types);
        Assert.Contains(AuditMessageType.Path, types);
        Assert.Equal(AuditMessageType.Eoe, types[^1]); // EOE last
        var syscall = ev.Single(r => r.Type == AuditMessageType.Syscall).Text;
        Assert.Contains(" syscall=59 ", syscall);
        Assert.Contains($" ppid={Environment.ProcessId} ", syscall);
        Assert.Contains($"key=\"{key}\"", syscall);
        Assert.Contains("a0=\"/bin/true\" a1=\"sluice-marker\"", ev.Single(r => r.Type == AuditMessageType.Execve).Text);
        Assert.All(ev, r => Assert.False(r.Text.EndsWith('\0')));
        Assert.Equal(0, socket.Counters.Truncated);
        Assert.True(socket.Counters.Records >= ev.Count);
    }

    [Fact]
    public void Drain_TinyBufferBurstLateDrain_CountsOverrun()
    {
        string key = TestRules.UniqueKey("overrun");
        var rule = TestRules.ExitRule(key, [TestRules.Getppid], ppid: (uint)Environment.ProcessId);
        using var socket = AuditEventSocket.Open(AuditReceiveMode.Unicast);
        int granted = socket.SetReceiveBuffer(4096);
        socket.ClaimConsumer();
        _control.SetBacklogLimit(8192);
        _control.AddRule(rule);
        var sink = new RecordCollector();
        try
        {
            // 5000 events of ~3 records into a buffer that holds a handful: kauditd's sends
            // fail, and the kernel marks the overrun on our socket (net/netlink/af_netlink.c
            // netlink_overrun), which the next recv reports as ENOBUFS.
            var (code, _) = NativeTools.Run(NativeTools.Get("syscall_burst"), "5000");
            Assert.Equal(0, code);
            var sw = Stopwatch.StartNew();
            while (socket.GetMemoryInfo().Drops == 0 && sw.Elapsed < s_wait)
            {
                socket.WaitReadable(TimeSpan.FromMilliseconds(50));
                Thread.Sleep(50);
            }
            Assert.True(socket.GetMemoryInfo().Drops > 0, "the kernel never dropped a record for the tiny socket");
            sink.DrainUntil(socket, _ => socket.Counters.Enobufs > 0, s_wait);
        }
        finally
        {
            _control.DeleteRule(rule);
        }

        Assert.True(granted < 64 * 1024, $"granted {granted}");
        Assert.True(socket.Counters.Enobufs >= 1, "ENOBUFS was not counted");
    }

    [Fact]
    public void Drain_AnotherProcessTriesToClaim_CountsReplaceAndIgnoresIt()
    {
        using var socket = AuditEventSocket.Open(AuditReceiveMode.Unicast);
        socket.ClaimConsumer();

        var (code, output) = NativeTools.Run(NativeTools.Get("audit_holder"), "try");
        var sink = new RecordCollector();
        sink.DrainUntil(socket, _ => socket.Counters.ReplaceRequests > 0, s_wait);

        Assert.Equal(2, code);
        Assert.Equal($"error {Errno.EEXIST}", output.Trim());
        Assert.Equal(1, socket.Counters.ReplaceRequests);
        Assert.True(socket.Counters.LastReplacePid > 0);
        Assert.DoesNotContain(sink.Records, r => r.Type == AuditMessageType.Replace); // never handed to the sink
        Assert.Equal((uint)Environment.ProcessId, _control.GetStatus().Pid);
    }

    [Fact]
    public void Multicast_WhileAnotherProcessIsConsumer_ReceivesRecords()
    {
        string key = TestRules.UniqueKey("mcast");
        var rule = TestRules.ExitRule(key, [TestRules.Execve], ppid: (uint)Environment.ProcessId);
        using var holder = ConsumerHolder.Start();
        using var socket = AuditEventSocket.Open(AuditReceiveMode.Multicast);
        socket.SetReceiveBuffer(8 << 20);
        _control.AddRule(rule);
        int child;
        var sink = new RecordCollector();
        try
        {
            using (var p = Process.Start(new ProcessStartInfo("/bin/true") { UseShellExecute = false })!)
            {
                child = p.Id;
                p.WaitForExit();
            }
            Assert.True(sink.DrainUntil(socket, s => s.SyscallSerialOf(child) is not null, s_wait),
                "no record arrived on the multicast group");
        }
        finally
        {
            _control.DeleteRule(rule);
        }
        Assert.Throws<InvalidOperationException>(socket.ClaimConsumer);
        Assert.Equal((uint)holder.Pid, _control.GetStatus().Pid);
    }
}
