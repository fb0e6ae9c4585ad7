using System.Text;
using Google.Protobuf;
using Sluice.Protocol.V1;
using Record = Sluice.Protocol.V1.Record;

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
        string stamp = $"1764000000.{serial % 1000:D3}";
        var e = new Event
        {
            Serial = serial,
            Timestamp = stamp,
            TimeUnixMs = 1_764_000_000_000 + (long)(serial % 1000),
            Syscall = "getppid",
            Success = true,
            Exit = 4321,
            Pid = 4322,
            Ppid = 4321,
            Uid = 0,
            Auid = 1000,
            Euid = 0,
            Comm = ByteString.CopyFromUtf8("loadgen"),
            Exe = ByteString.CopyFromUtf8("/usr/local/bin/loadgen"),
            Key = ByteString.CopyFromUtf8("sluice-load"),
            Arch = "x86_64",
            FirstType = "SYSCALL",
        };
        string extra = extraBytes > 0 ? " pad=" + new string('x', extraBytes) : "";
        e.Records.Add(new Record
        {
            Type = 1300,
            Raw = ByteString.CopyFrom(Encoding.ASCII.GetBytes(
                $"audit({stamp}:{serial}): arch=c000003e syscall=110 success=yes exit=4321 a0=0 a1=0 a2=0 a3=0 items=0 ppid=4321 pid=4322 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm=\"loadgen\" exe=\"/usr/local/bin/loadgen\" key=\"sluice-load\"{extra}")),
        });
        e.Records.Add(new Record { Type = 1327, Raw = ByteString.CopyFrom(Encoding.ASCII.GetBytes($"audit({stamp}:{serial}): proctitle=6C6F616467656E002D2D72617465003230303030")) });
        e.Records.Add(new Record { Type = 1320, Raw = ByteString.CopyFrom(Encoding.ASCII.GetBytes($"audit({stamp}:{serial}): ")) });
        return e;
    }

    /// <summary>The event serials a serialized batch carries, in order.</summary>
    public static ulong[] Serials(ReadOnlyMemory<byte> payload) => EventBatch.Parser.ParseFrom(payload.Span).Events.Select(e => e.Serial).ToArray();
}
