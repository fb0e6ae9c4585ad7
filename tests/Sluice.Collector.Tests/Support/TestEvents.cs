using System.Text;
using Google.Protobuf;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Tests.Support;

/// <summary>Builds batches of events shaped like the kernel's (SYSCALL, EXECVE, CWD, PATH, PROCTITLE, EOE).</summary>
public static class TestEvents
{
    /// <summary>2025-11-25T00:00:00Z: a fixed base so partitions and exports are predictable.</summary>
    public const long BaseUnixMs = 1_764_028_800_000;

    public static EventBatch Batch(string agentId, ulong sequence, int events, long firstSerial = 1, long startUnixMs = BaseUnixMs, long stepMs = 10)
    {
        var batch = new EventBatch
        {
            AgentId = agentId,
            Hostname = agentId + ".example",
            BootId = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
            Sequence = sequence,
            CreatedUnixMs = startUnixMs + events * stepMs,
            IntervalStartUnixMs = startUnixMs,
            IntervalEndUnixMs = startUnixMs + events * stepMs,
            RulesHash = "sha256:4f2a",
            Loss = new LossCounters { KernelLost = sequence, SocketOverruns = 2, SerialGaps = 3, SpoolDroppedEvents = 0, Filtered = 5 },
        };
        for (int i = 0; i < events; i++)
        {
            batch.Events.Add(Exec(firstSerial + i, startUnixMs + i * stepMs, i));
        }
        return batch;
    }

    /// <summary>An execve event; every 7th has argv and a path with bytes that are not UTF-8.</summary>
    public static Event Exec(long serial, long unixMs, int variant)
    {
        string ts = $"{unixMs / 1000}.{unixMs % 1000:000}";
        string head = $"audit({ts}:{serial}): ";
        bool binary = variant % 7 == 3;
        byte[] odd = [(byte)'f', 0xff, (byte)'o', 0xc3, (byte)'\n', (byte)'"'];
        uint auid = variant % 5 == 0 ? 4294967295u : 1000u + (uint)(variant % 3);
        string exe = variant % 2 == 0 ? "/usr/bin/ls" : "/usr/bin/sudo";
        var argv = binary
            ? new[] { Bytes("cat"), ByteString.CopyFrom(odd) }
            : new[] { Bytes(Path.GetFileName(exe)), Bytes("-l"), Bytes($"/tmp/file {variant}") };
        var e = new Event
        {
            Serial = (ulong)serial,
            Timestamp = ts,
            TimeUnixMs = unixMs,
            Syscall = "execve",
            Success = variant % 11 != 4,
            Exit = variant % 11 != 4 ? 0 : -13,
            Pid = 4000u + (uint)variant,
            Ppid = 1200,
            Uid = 0,
            Auid = auid,
            Euid = 0,
            Ses = 7,
            Comm = Bytes(Path.GetFileName(exe)),
            Exe = Bytes(exe),
            Key = Bytes(variant % 4 == 0 ? "priv" : "exec"),
            Cwd = Bytes("/root"),
            Arch = "x86_64",
            Tty = "pts0",
            FirstType = "SYSCALL",
        };
        e.Argv.AddRange(argv);
        e.Paths.Add(binary ? ByteString.CopyFrom(odd) : Bytes(exe));
        e.Proctitle.AddRange(argv);
        e.Records.Add(Record(1300, head + $"arch=c000003e syscall=59 success={(e.Success ? "yes" : "no")} exit={e.Exit} ppid=1200 pid={e.Pid} auid={auid} uid=0 gid=0 euid=0 ses=7 tty=pts0 comm=\"{Path.GetFileName(exe)}\" exe=\"{exe}\" key=\"{(variant % 4 == 0 ? "priv" : "exec")}\""));
        e.Records.Add(binary
            ? Record(1309, [.. Encoding.ASCII.GetBytes(head + "argc=2 a0=\"cat\" a1="), .. odd])
            : Record(1309, head + $"argc=3 a0=\"{Path.GetFileName(exe)}\" a1=\"-l\" a2=2F746D702F66696C652{variant % 10}"));
        e.Records.Add(Record(1307, head + "cwd=\"/root\""));
        e.Records.Add(Record(1302, head + $"item=0 name=\"{exe}\" inode={variant} dev=fd:01 mode=0100755"));
        e.Records.Add(Record(1327, head + "proctitle=6C73002D6C"));
        e.Records.Add(Record(1320, head.TrimEnd() + " "));
        return e;
    }

    /// <summary>A login event without a syscall, as user space sends it.</summary>
    public static Event Login(long serial, long unixMs)
    {
        string ts = $"{unixMs / 1000}.{unixMs % 1000:000}";
        var e = new Event { Serial = (ulong)serial, Timestamp = ts, TimeUnixMs = unixMs, FirstType = "USER_LOGIN", Auid = 1000, Pid = 812 };
        e.Records.Add(Record(1112, $"audit({ts}:{serial}): pid=812 uid=0 auid=1000 ses=3 msg='op=login id=1000 exe=\"/usr/sbin/sshd\" hostname=10.0.0.5 addr=10.0.0.5 terminal=sshd res=success'"));
        return e;
    }

    public static ByteString Bytes(string s) => ByteString.CopyFromUtf8(s);

    private static Sluice.Protocol.V1.Record Record(uint type, string raw) => Record(type, Encoding.UTF8.GetBytes(raw));

    private static Sluice.Protocol.V1.Record Record(uint type, byte[] raw) => new() { Type = type, Raw = ByteString.CopyFrom(raw) };
}
