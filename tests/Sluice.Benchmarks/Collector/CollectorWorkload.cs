using Google.Protobuf;
using Sluice.Agent.Tests.Support;
using Sluice.Protocol.V1;

namespace Sluice.Benchmarks.Collector;

/// <summary>Batches shaped like the design's benchmark workload: one getppid event = SYSCALL + PROCTITLE + EOE, about 150 bytes each.</summary>
internal static class CollectorWorkload
{
    /// <summary>An hour ago: the time of the first event of <see cref="Batch"/> 0.</summary>
    public static long StartUnixMs() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 3_600_000;

    /// <summary>
    /// Batch number <paramref name="index"/> (from 0) of an agent's stream: serials go on from the
    /// batch before, and time advances 1 ms per 100 events, as on a host producing 100k events/s.
    /// </summary>
    public static EventBatch Batch(string agentId, int index, int eventsPerBatch, long t0)
    {
        {
            long serial = 1 + (long)index * eventsPerBatch;
            var batch = new EventBatch
            {
                AgentId = agentId,
                Hostname = agentId + ".bench",
                BootId = "5e1f0c1a-0000-4000-8000-000000000001",
                IntervalStartUnixMs = t0,
                IntervalEndUnixMs = t0 + 1000,
                CreatedUnixMs = t0 + 1000,
                RulesHash = "sha256:bench",
                Loss = new LossCounters { KernelLost = 1 },
            };
            for (int i = 0; i < eventsPerBatch; i++, serial++)
            {
                batch.Events.Add(Getppid(serial, t0 + serial / 100));
            }
            return batch;
        }
    }

    private static Event Getppid(long serial, long unixMs)
    {
        var e = LoadgenEvent.Getppid((ulong)serial, unixMs, pid: 5555, ppid: 4321, uid: 1000, key: "bench");
        e.Ses = 3;
        string head = $"audit({e.Timestamp}:{serial}): ";
        e.Proctitle.Add(ByteString.CopyFromUtf8("loadgen"));
        e.Records.Add(LoadgenEvent.Raw(1300, head + "arch=c000003e syscall=110 success=yes exit=4321 a0=0 a1=0 a2=0 a3=0 items=0 ppid=4321 pid=5555 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm=\"loadgen\" exe=\"/usr/local/bin/loadgen\" subj=unconfined key=\"bench\""));
        e.Records.Add(LoadgenEvent.Raw(1327, head + "proctitle=6C6F616467656E002D2D72617465003230303030"));
        e.Records.Add(LoadgenEvent.Raw(1320, head.TrimEnd()));
        return e;
    }
}

/// <summary>
/// One agent's stream of batches (<see cref="CollectorWorkload.Batch"/>), handed out a round of
/// <paramref name="batches"/> batches at a time: each round's events follow the last round's in
/// serial and in time, as a store receives them in service (the same events again would go into
/// the middle of its time indexes).
/// </summary>
internal sealed class CollectorRounds(string agentId, int batches, int eventsPerBatch)
{
    private readonly long _t0 = CollectorWorkload.StartUnixMs();
    private int _round;

    /// <summary>The next round's batches. The previous round's are garbage by then, and are collected here, before measuring rather than during.</summary>
    public EventBatch[] Next()
    {
        var result = new EventBatch[batches];
        for (int b = 0; b < batches; b++)
        {
            result[b] = CollectorWorkload.Batch(agentId, _round * batches + b, eventsPerBatch, _t0);
        }
        _round++;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        return result;
    }
}
