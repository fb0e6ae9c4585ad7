using System.Text;
using Google.Protobuf;
using Sluice.Protocol.V1;

namespace Sluice.Benchmarks.Delivery;

/// <summary>
/// Batches shaped like the comparison's getppid workload (tests/Sluice.Benchmarks/README.md): one getppid event = SYSCALL + PROCTITLE + EOE
/// records of about 150 bytes each, with the summary fields a reassembled event carries.
/// </summary>
internal static class GetppidWorkload
{
    public static EventBatch Batch(int events, ulong firstSerial)
    {
        var batch = new EventBatch
        {
            AgentId = "bench-agent",
            Hostname = "bench-host",
            BootId = "5b1c2f0e-8d7a-4c1e-9f5e-3a2b1c0d9e8f",
            Loss = new LossCounters(),
        };
        for (int i = 0; i < events; i++)
        {
            batch.Events.Add(Event(firstSerial + (ulong)i));
        }
        return batch;
    }

    private static Event Event(ulong serial)
    {
        long ms = 1_764_000_000_000 + (long)(serial / 20);
        string stamp = $"{ms / 1000}.{ms % 1000:D3}";
        uint pid = 20_000 + (uint)(serial % 5000);
        var e = new Event
        {
            Serial = serial,
            Timestamp = stamp,
            TimeUnixMs = ms,
            Syscall = "getppid",
            Success = true,
            Exit = 1187,
            Pid = pid,
            Ppid = 1187,
            Uid = 0,
            Auid = 1000,
            Euid = 0,
            Ses = 4,
            Comm = ByteString.CopyFromUtf8("loadgen"),
            Exe = ByteString.CopyFromUtf8("/usr/local/bin/loadgen"),
            Key = ByteString.CopyFromUtf8("bench-getppid"),
            Arch = "x86_64",
            Tty = "pts1",
            FirstType = "SYSCALL",
        };
        e.Records.Add(Raw(1300, $"audit({stamp}:{serial}): arch=c000003e syscall=110 success=yes exit=1187 a0=7ffd4 a1=0 a2=0 a3=0 items=0 ppid=1187 pid={pid} auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts1 ses=4 comm=\"loadgen\" exe=\"/usr/local/bin/loadgen\" key=\"bench-getppid\""));
        e.Records.Add(Raw(1327, $"audit({stamp}:{serial}): proctitle=2F7573722F6C6F63616C2F62696E2F6C6F616467656E002D2D72617465003630303030"));
        e.Records.Add(Raw(1320, $"audit({stamp}:{serial}): "));
        return e;
    }

    private static Record Raw(uint type, string text) => new() { Type = type, Raw = ByteString.CopyFrom(Encoding.ASCII.GetBytes(text)) };
}
