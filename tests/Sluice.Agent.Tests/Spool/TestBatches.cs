using Sluice.Agent.Tests.Support;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Tests.Spool;

/// <summary>Batches of numbered events that look like getppid audit events (SYSCALL, PROCTITLE, EOE), so content can be checked after a round trip.</summary>
internal static class TestBatches
{
    public const string AgentId = "agent-test";

    public static EventBatch Create(ulong firstEventSerial, int events, int extraBytesPerEvent = 0)
    {
        var batch = new EventBatch
        {
            AgentId = AgentId,
            Hostname = "host-test",
            BootId = "0f6e3a57-7a9b-4b44-b0d6-2a5d6c1f0e11",
            CreatedUnixMs = 1_764_000_000_000,
            IntervalStartUnixMs = 1_764_000_000_000,
            IntervalEndUnixMs = 1_764_000_001_000,
            Loss = new LossCounters(),
        };
        for (int i = 0; i < events; i++)
        {
            batch.Events.Add(CreateEvent(firstEventSerial + (ulong)i, extraBytesPerEvent));
        }
        return batch;
    }

    public static Event CreateEvent(ulong serial, int extraBytes = 0)
    {
        var e = LoadgenEvent.Getppid(serial, 1_764_000_000_000 + (long)(serial % 1000), pid: 4322, ppid: 4321, uid: 0, key: "sluice-load");
        string head = $"audit({e.Timestamp}:{serial}): ";
        string extra = extraBytes > 0 ? " pad=" + new string('x', extraBytes) : "";
        e.Records.Add(LoadgenEvent.Raw(1300, head
            + $"arch=c000003e syscall=110 success=yes exit=4321 a0=0 a1=0 a2=0 a3=0 items=0 ppid=4321 pid=4322 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm=\"loadgen\" exe=\"/usr/local/bin/loadgen\" key=\"sluice-load\"{extra}"));
        e.Records.Add(LoadgenEvent.Raw(1327, head + "proctitle=6C6F616467656E002D2D72617465003230303030"));
        e.Records.Add(LoadgenEvent.Raw(1320, head));
        return e;
    }

    /// <summary>The event serials a serialized batch carries, in order.</summary>
    public static ulong[] Serials(ReadOnlyMemory<byte> payload) => EventBatch.Parser.ParseFrom(payload.Span).Events.Select(e => e.Serial).ToArray();
}
