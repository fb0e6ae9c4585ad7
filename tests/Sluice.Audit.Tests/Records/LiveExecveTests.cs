using System.Diagnostics;
using System.Text;
using Sluice.Audit.Netlink;
using Sluice.Audit.Records;
using Sluice.Audit.Tables;
using Sluice.Testing;

namespace Sluice.Audit.Tests.Records;

/// <summary>Real kernel: records received live as the registered consumer, reassembled and interpreted.</summary>
[Collection(KernelAuditFixture.Collection)]
public sealed class LiveExecveTests : IDisposable
{
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(20);
    private readonly KernelTestSession _session = new();

    public void Dispose() => _session.Dispose();

    [Fact]
    public void Reassemble_TrickyCommandLineLive_ArgvExactAndReplaySame()
    {
        var expected = new List<byte[]>
        {
            "/bin/true"u8.ToArray(),
            new byte[] { 0xff, 0xfe, (byte)'z', 0x80 }, // not UTF-8
            "arg with spaces"u8.ToArray(),
            "quote\"d 'single'"u8.ToArray(),
            "tab\tx"u8.ToArray(),
            "new\nline"u8.ToArray(),
            Encoding.UTF8.GetBytes("ünïcødé 日本"),
            Array.Empty<byte>(),                          // empty argument
            Enumerable.Repeat((byte)'A', 9000).ToArray(), // split across chunks
        };
        for (int i = 0; i < 1000; i++)
        {
            expected.Add(Encoding.ASCII.GetBytes($"x{i}"));
        }
        string key = TestRules.UniqueKey("argv");
        var rule = TestRules.ExitRule(key, [TestRules.Execve], ppid: (uint)Environment.ProcessId);

        var live = new List<AuditEventSummary>();
        var log = new List<byte[]>(); // the same records, written as auditd would log them
        var reassembler = new AuditReassembler(ev =>
        {
            using (ev)
            {
                var summary = AuditEventInterpreter.Interpret(ev);
                if (summary.Key is { } k && k.AsSpan().SequenceEqual(Encoding.UTF8.GetBytes(key)) && summary.Argv?[0] is { } a0 && a0.AsSpan().SequenceEqual("/bin/true"u8))
                {
                    live.Add(summary);
                    for (int i = 0; i < ev.Count; i++)
                    {
                        log.Add([.. Encoding.ASCII.GetBytes($"type={AuditMessageTypeTable.NameOrUnknown(ev[i].Type)} msg="), .. ev[i].Text]);
                    }
                }
            }
        });
        var sink = new ReassemblerSink(reassembler);

        using var socket = AuditEventSocket.Open(AuditReceiveMode.Unicast);
        socket.SetReceiveBuffer(16 << 20);
        socket.ClaimConsumer();
        _session.Control.AddRule(rule);
        try
        {
            // bash puts the non-UTF-8 argument together from $'\xNN' escapes, then execs /bin/true with all of them
            var psi = new ProcessStartInfo("/bin/bash") { UseShellExecute = false };
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add("exec /bin/true $'\\xff\\xfez\\x80' \"$@\"");
            psi.ArgumentList.Add("bash");
            foreach (byte[] arg in expected.Skip(2))
            {
                psi.ArgumentList.Add(Encoding.UTF8.GetString(arg));
            }
            using (var p = Process.Start(psi)!)
            {
                p.WaitForExit();
                Assert.Equal(0, p.ExitCode);
            }
            var sw = Stopwatch.StartNew();
            while (live.Count == 0 && sw.Elapsed < s_wait)
            {
                socket.Drain(ref sink, 10_000);
                socket.WaitReadable(TimeSpan.FromMilliseconds(100));
            }
        }
        finally
        {
            _session.Control.DeleteRule(rule);
        }

        var ev = Assert.Single(live);
        Assert.True(ev.ArgvComplete);
        Assert.Equal(expected.Count, ev.Argc);
        Assert.Equal(expected, ev.Argv!, CorpusTests.ByteArrayComparer.Instance);
        Assert.Equal("execve", ev.Syscall);
        Assert.True(ev.Success);
        Assert.Equal((uint)Environment.ProcessId, ev.Ppid);
        Assert.Equal(0, reassembler.Counters.RecordsRejected);

        // replay: the same records as log lines give the same argv
        AuditEventSummary? replayed = null;
        var replay = new AuditReassembler(e =>
        {
            using (e)
            {
                replayed = AuditEventInterpreter.Interpret(e);
            }
        });
        foreach (byte[] line in log)
        {
            Assert.Equal(AuditParseError.None, replay.AddLogLine(line));
        }
        replay.Flush();
        Assert.Equal(expected, replayed!.Argv!, CorpusTests.ByteArrayComparer.Instance);
    }

    [Fact]
    public void SerialTracking_GetppidBurst_ConsecutiveSerialsNoGaps()
    {
        // Checks on this kernel what SerialTracker assumes: the events of a rule are numbered
        // consecutively (no serial is spent on syscalls the rules did not match), so a gap is loss.
        string key = TestRules.UniqueKey("serial");
        var rule = TestRules.ExitRule(key, [TestRules.Getppid], ppid: (uint)Environment.ProcessId);
        var serials = new List<uint>();
        var all = new HashSet<uint>();
        var reassembler = new AuditReassembler(ev =>
        {
            using (ev)
            {
                all.Add(ev.Serial);
                if (ev.TryGetField(AuditMessageType.Syscall, "key"u8, out ReadOnlySpan<byte> k, out _) && k.SequenceEqual(Encoding.UTF8.GetBytes(key)))
                {
                    serials.Add(ev.Serial);
                }
            }
        });
        var sink = new ReassemblerSink(reassembler);
        using var socket = AuditEventSocket.Open(AuditReceiveMode.Unicast);
        socket.SetReceiveBuffer(32 << 20);
        socket.ClaimConsumer();
        _session.Control.SetBacklogLimit(16384);
        _session.Control.AddRule(rule);
        try
        {
            var (code, _) = NativeTools.Run(NativeTools.Get("syscall_burst"), "2000");
            Assert.Equal(0, code);
            var sw = Stopwatch.StartNew();
            while (serials.Count < 2000 && sw.Elapsed < s_wait)
            {
                socket.Drain(ref sink, 10_000);
                socket.WaitReadable(TimeSpan.FromMilliseconds(100));
            }
        }
        finally
        {
            _session.Control.DeleteRule(rule);
        }

        Assert.Equal(2000, serials.Count);
        // every serial between the burst's first and last reached us, as one of its events or as
        // another event on the machine: no serial is spent on syscalls that no rule matched
        uint first = serials.Min(), last = serials.Max();
        var missing = new List<uint>();
        for (uint s = first; s != last + 1; s++)
        {
            if (!all.Contains(s))
            {
                missing.Add(s);
            }
        }
        Assert.Empty(missing);
        Assert.Equal(0, reassembler.Counters.SerialGaps);
    }
}
