using System.Text;
using Microsoft.Extensions.Time.Testing;
using Sluice.Agent.Enrichment;
using Sluice.Audit.Records;
using Sluice.Audit.Tables;

namespace Sluice.Agent.Tests.Enrichment;

/// <summary>Builds real events through the reassembler, as the kernel writes them (x86_64 numbers).</summary>
internal sealed class EnrichmentEvents
{
    private uint _serial = 1000;
    private long _ms = 1_700_000_000_000;

    public uint LastSerial => _serial;

    private AuditEvent Build(string syscall, params (AuditMessageType Type, string Text)[] more)
    {
        _serial++;
        _ms += 10;
        string stamp = $"audit({_ms / 1000}.{_ms % 1000:D3}:{_serial}): ";
        AuditEvent? ev = null;
        var r = new AuditReassembler(e => ev = e, new FakeTimeProvider());
        r.Add(AuditMessageType.Syscall, Encoding.ASCII.GetBytes(stamp + syscall));
        foreach (var (type, text) in more)
        {
            r.Add(type, Encoding.ASCII.GetBytes(stamp + text));
        }
        r.Add(AuditMessageType.Eoe, Encoding.ASCII.GetBytes(stamp));
        return ev!;
    }

    private static string Tail(int ppid, int pid, string exe) =>
        $"items=0 ppid={ppid} pid={pid} auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm=\"x\" exe={exe} key=\"k\"";

    private static string Quote(string s) => "\"" + s + "\"";

    public AuditEvent Exec(int ppid, int pid, string exe, string[] argv, string cwd = "/root") => Build(
        $"arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 " + Tail(ppid, pid, Quote(exe)),
        (AuditMessageType.Execve, $"argc={argv.Length} " + string.Join(' ', argv.Select((a, i) => $"a{i}={Value(a)}"))),
        (AuditMessageType.Cwd, $"cwd={Value(cwd)}"));

    /// <summary>An exec event whose SYSCALL exe is already hex (hostile bytes).</summary>
    public AuditEvent ExecRaw(int ppid, int pid, string exeField, string execveFields) => Build(
        $"arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 " + Tail(ppid, pid, exeField),
        (AuditMessageType.Execve, execveFields));

    public AuditEvent Clone(int ppid, int pid, string exe, int child, ulong flags = 0x1200011) =>
        Build($"arch=c000003e syscall=56 success=yes exit={child} a0={flags:x} a1=0 a2=0 a3=0 " + Tail(ppid, pid, Quote(exe)));

    public AuditEvent Clone3(int ppid, int pid, string exe, int child) =>
        Build($"arch=c000003e syscall=435 success=yes exit={child} a0=7ffd a1=58 a2=0 a3=0 " + Tail(ppid, pid, Quote(exe)));

    public AuditEvent Fork(int ppid, int pid, string exe, int child) =>
        Build($"arch=c000003e syscall=57 success=yes exit={child} a0=0 a1=0 a2=0 a3=0 " + Tail(ppid, pid, Quote(exe)));

    public AuditEvent ExitGroup(int ppid, int pid, string exe) =>
        Build($"arch=c000003e syscall=231 a0=0 a1=e7 a2=3c a3=0 " + Tail(ppid, pid, Quote(exe)));

    public AuditEvent Open(int ppid, int pid, string exe) =>
        Build($"arch=c000003e syscall=257 success=yes exit=3 a0=1 a1=2 a2=3 a3=4 " + Tail(ppid, pid, Quote(exe)));

    private static string Value(string s) => s.Any(c => c <= ' ' || c == '"' || c >= 0x7f)
        ? Convert.ToHexString(Encoding.UTF8.GetBytes(s))
        : Quote(s);
}

/// <summary>A /proc made of records: what each pid shows now.</summary>
internal sealed class FakeProc : IProcSource
{
    public Dictionary<int, ProcInfo> Processes { get; } = [];
    public int Reads { get; private set; }

    /// <summary>Reads that asked for the start time and cgroup only (the event had the image).</summary>
    public int LightReads { get; private set; }

    public ProcInfo? Read(int pid, bool imageFromEvent = false)
    {
        Reads++;
        if (!Processes.TryGetValue(pid, out var info))
        {
            return null;
        }
        if (!imageFromEvent)
        {
            return info;
        }
        LightReads++;
        return info with { Exe = [], Argv = [], ArgvTruncated = false, Cwd = [], Uid = null, Auid = null };
    }

    public IEnumerable<int> Pids() => Processes.Keys.ToList();

    public void Add(int pid, int ppid, string exe, string cgroup, long startTicks = 100, long startMs = 0) =>
        Processes[pid] = new ProcInfo(pid, ppid, startTicks, startMs, Encoding.UTF8.GetBytes(exe), [Encoding.UTF8.GetBytes(exe)], false,
            "/"u8.ToArray(), 0, 1000, Encoding.UTF8.GetBytes(cgroup), CgroupPath.Parse(Encoding.UTF8.GetBytes(cgroup)));
}
