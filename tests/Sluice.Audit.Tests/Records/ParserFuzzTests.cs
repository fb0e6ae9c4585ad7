using Sluice.Audit.Records;
using Sluice.Audit.Tables;

namespace Sluice.Audit.Tests.Records;

/// <summary>Malformed input: mutated corpus lines and random bytes. Nothing throws; every rejected record is counted.</summary>
public sealed class ParserFuzzTests
{
    private static readonly byte[] Interesting = [(byte)' ', (byte)'"', (byte)'\'', (byte)'=', 0x1d, (byte)'(', (byte)')', (byte)':', (byte)'.', (byte)'[', (byte)']', 0, 0xff, 0xc3, (byte)'\r', (byte)'-', (byte)'9'];

    internal static byte[] Mutate(byte[] line, Random rng)
    {
        var b = new List<byte>(line);
        int edits = rng.Next(1, 4);
        for (int e = 0; e < edits; e++)
        {
            int at = b.Count == 0 ? 0 : rng.Next(b.Count);
            switch (rng.Next(6))
            {
                case 0 when b.Count > 0:
                    b[at] = (byte)rng.Next(256);
                    break;
                case 1:
                    b.Insert(at, Interesting[rng.Next(Interesting.Length)]);
                    break;
                case 2 when b.Count > 0:
                    b.RemoveRange(at, Math.Min(rng.Next(1, 20), b.Count - at));
                    break;
                case 3:
                    b.RemoveRange(at, b.Count - at); // truncate
                    break;
                case 4 when b.Count > 0:
                    b.InsertRange(at, b.GetRange(at, Math.Min(rng.Next(1, 40), b.Count - at)));
                    break;
                default:
                    if (b.Count > 0)
                    {
                        b[at] = Interesting[rng.Next(Interesting.Length)];
                    }
                    break;
            }
        }
        return [.. b];
    }

    [Fact]
    public void AddLogLine_MutatedCorpus_NoExceptionAndEveryRejectCounted()
    {
        var rng = new Random(1234);
        long events = 0;
        var r = new AuditReassembler(ev =>
        {
            using (ev)
            {
                // interpretation and field reading must survive whatever was accepted
                AuditEventInterpreter.Interpret(ev);
                for (int i = 0; i < ev.Count; i++)
                {
                    AuditRecordReader reader = ev[i].Fields();
                    while (reader.Read())
                    {
                    }
                    reader = ev[i].EnrichedFields();
                    while (reader.Read())
                    {
                    }
                }
                events++;
            }
        }, options: new AuditReassemblerOptions { MaxInFlightEvents = 64, MaxInFlightBytes = 256 * 1024 });
        byte[][] corpus = [.. CorpusTests.Lines(CorpusTests.Raw), .. CorpusTests.Lines(CorpusTests.Enriched)];

        long fed = 0, refused = 0;
        for (int i = 0; i < 40_000; i++)
        {
            byte[] line = i % 10 == 9
                ? RandomBytes(rng)
                : Mutate(corpus[rng.Next(corpus.Length)], rng);
            fed++;
            if (r.AddLogLine(line) != AuditParseError.None)
            {
                refused++;
            }
        }
        r.Flush();

        var c = AssertEveryRejectCounted(r, fed, refused);
        Assert.Equal(c.RejectedBadHeader + c.RejectedBadLength + c.RejectedBadLogLine + c.RejectedTooManyNodes, c.RecordsRejected);
        Assert.Equal(c.EventsCompleted, events);
        Assert.Equal(0, r.InFlightEvents);
        Assert.Equal(0, r.InFlightBytes);
    }

    [Fact]
    public void Add_MutatedKernelText_NoExceptionAndEveryRejectCounted()
    {
        var rng = new Random(99);
        var r = new AuditReassembler(ev =>
        {
            using (ev)
            {
                AuditEventInterpreter.Interpret(ev);
            }
        });
        var kernelTexts = CorpusTests.Lines(CorpusTests.Raw)
            .Select(l => l[(Array.IndexOf(l, (byte)'m') + 4)..]) // after "msg="
            .ToArray();
        AuditMessageType[] types = [AuditMessageType.Syscall, AuditMessageType.Execve, AuditMessageType.Path, AuditMessageType.Sockaddr,
            AuditMessageType.Proctitle, AuditMessageType.Cwd, AuditMessageType.Eoe, AuditMessageType.UserLogin, AuditMessageType.Avc, (AuditMessageType)9999];

        long fed = 0, refused = 0;
        for (int i = 0; i < 40_000; i++)
        {
            byte[] text = Mutate(kernelTexts[rng.Next(kernelTexts.Length)], rng);
            fed++;
            if (!r.Add(types[rng.Next(types.Length)], text))
            {
                refused++;
            }
        }
        r.Flush();

        AssertEveryRejectCounted(r, fed, refused);
    }

    private static AuditReassemblerCounters AssertEveryRejectCounted(AuditReassembler r, long fed, long refused)
    {
        var c = r.Counters;
        Assert.True(refused > 1000, $"only {refused} of {fed} refused: the mutations are too gentle");
        Assert.Equal(refused, c.RecordsRejected);
        Assert.Equal(fed, c.RecordsAccepted + c.RecordsRejected);
        return c;
    }

    [Fact]
    public void Reader_RandomBytes_NeverThrowsAndAlwaysEnds()
    {
        var rng = new Random(7);
        for (int i = 0; i < 20_000; i++)
        {
            byte[] bytes = RandomBytes(rng);
            var reader = new AuditRecordReader(bytes);
            int fields = 0;
            while (reader.Read())
            {
                Assert.True(++fields <= bytes.Length, "the reader did not advance");
            }
            AuditRecordHeader.TryParse(bytes, out _);
        }
    }

    private static byte[] RandomBytes(Random rng)
    {
        var bytes = new byte[rng.Next(0, 300)];
        for (int i = 0; i < bytes.Length; i++)
        {
            bytes[i] = rng.Next(3) == 0 ? Interesting[rng.Next(Interesting.Length)] : (byte)rng.Next(256);
        }
        if (rng.Next(2) == 0)
        {
            // a valid-looking start makes the rest of the line reach the field reader
            bytes = [.. "type=SYSCALL msg=audit(1.000:5): "u8, .. bytes];
        }
        return bytes;
    }
}
