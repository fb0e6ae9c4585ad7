using Google.Protobuf;
using Sluice.Audit.Records;
using Sluice.Benchmarks.Records;
using Sluice.Protocol.Mapping;
using Sluice.Protocol.V1;

namespace Sluice.Benchmarks.Fleet;

/// <summary>
/// The events every agent of the fleet sends: the reference corpus (kernel 6.18, 836 events, exec events with argv
/// of several kilobytes among them), reassembled and interpreted as an agent does, each encoded once as an
/// <c>EventBatch.events</c> entry and laid end to end in one shared array (repeated to <see cref="Count"/> entries).
/// A batch of n events is a header (per call: agent, sequence) followed by n consecutive entries of that array:
/// protobuf concatenates repeated fields, so nothing of the events is encoded or copied per agent.
/// </summary>
internal sealed class FleetPayloads
{
    private readonly byte[] _bytes;
    private readonly int[] _offsets;

    private FleetPayloads(byte[] bytes, int[] offsets, int corpusEvents, int execEvents, int longestExec)
    {
        _bytes = bytes;
        _offsets = offsets;
        CorpusEvents = corpusEvents;
        ExecEvents = execEvents;
        LongestExecBytes = longestExec;
    }

    /// <summary>Entries in the shared array.</summary>
    public int Count => _offsets.Length - 1;
    public int CorpusEvents { get; }
    public int ExecEvents { get; }
    /// <summary>The largest encoded execve event of the corpus.</summary>
    public int LongestExecBytes { get; }
    public long TotalBytes => _bytes.Length;

    /// <summary>Entries [first, first + count) as one slice of the shared array.</summary>
    public ReadOnlyMemory<byte> Slice(int first, int count) =>
        _bytes.AsMemory(_offsets[first], _offsets[first + count] - _offsets[first]);

    /// <summary>Reads the corpus next to the benchmark and lays its events out to at least <paramref name="count"/> entries.</summary>
    public static FleetPayloads Load(int count)
    {
        var events = new List<Event>();
        var reassembler = new AuditReassembler(ev =>
        {
            events.Add(AuditEventMapper.ToProto(ev, AuditEventInterpreter.Interpret(ev)));
            ev.Dispose();
        }, new Corpus.FrozenTime());
        foreach (var (type, text) in Corpus.Records())
        {
            reassembler.Add(type, text);
        }
        reassembler.Flush();
        if (events.Count == 0)
        {
            throw new InvalidDataException("the corpus gave no events");
        }
        var entries = events.Select(e => new EventBatch { Events = { e } }.ToByteArray()).ToArray();
        var execs = events.Select((e, i) => (e, i)).Where(x => x.e.Syscall == "execve").Select(x => entries[x.i].Length).ToArray();
        var offsets = new int[count + 1];
        using var stream = new MemoryStream();
        for (int i = 0; i < count; i++)
        {
            offsets[i] = (int)stream.Length;
            stream.Write(entries[i % entries.Length]);
        }
        offsets[count] = (int)stream.Length;
        return new FleetPayloads(stream.ToArray(), offsets, events.Count, execs.Length, execs.DefaultIfEmpty(0).Max());
    }
}

/// <summary>Batch sizes: log-normal around the median (most batches 5 to 80 events), and one burst in every K batches on average.</summary>
internal static class FleetBatchSizes
{
    /// <summary>The spread of the log-normal: exp(±0.7) is about ×2 either side of the median for two batches in three.</summary>
    private const double Sigma = 0.7;

    public static int Next(Random random, int median, int burstEvery, int burstSize, int max)
    {
        if (burstEvery > 0 && random.Next(burstEvery) == 0)
        {
            return Math.Min(burstSize, max);
        }
        // Box-Muller: one standard normal draw.
        double u1 = 1.0 - random.NextDouble();
        double u2 = random.NextDouble();
        double z = Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
        int size = (int)Math.Round(median * Math.Exp(Sigma * z));
        return Math.Clamp(size, 1, Math.Min(max, median * 20));
    }
}
