using Sluice.Agent.Tests.Support;
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
        uint pid = 20_000 + (uint)(serial % 5000);
        var e = LoadgenEvent.Getppid(serial, 1_764_000_000_000 + (long)(serial / 20), pid, ppid: 1187, uid: 0, key: "bench-getppid");
        e.Ses = 4;
        e.Tty = "pts1";
        string head = $"audit({e.Timestamp}:{serial}): ";
        e.Records.Add(LoadgenEvent.Raw(1300, head + $"arch=c000003e syscall=110 success=yes exit=1187 a0=7ffd4 a1=0 a2=0 a3=0 items=0 ppid=1187 pid={pid} auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts1 ses=4 comm=\"loadgen\" exe=\"/usr/local/bin/loadgen\" key=\"bench-getppid\""));
        e.Records.Add(LoadgenEvent.Raw(1327, head + "proctitle=2F7573722F6C6F63616C2F62696E2F6C6F616467656E002D2D72617465003630303030"));
        e.Records.Add(LoadgenEvent.Raw(1320, head));
        return e;
    }
}
