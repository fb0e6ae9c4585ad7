using System.Text;
using Sluice.Audit.Accounts;
using Sluice.Audit.Records;
using Sluice.Audit.Tables;

namespace Sluice.Audit.Tests.Records;

/// <summary>The shared corpus (Fixtures/corpus, two captures of the same workload on kernel 6.18: RAW and ENRICHED).</summary>
public sealed class CorpusTests
{
    public const string Raw = "kernel-6.18-raw.log";
    public const string Enriched = "kernel-6.18-enriched.log";

    internal static byte[][] Lines(string file)
    {
        byte[] all = File.ReadAllBytes(RepoPaths.Fixture("corpus", file));
        var lines = new List<byte[]>();
        int start = 0;
        for (int i = 0; i < all.Length; i++)
        {
            if (all[i] == (byte)'\n')
            {
                lines.Add(all[start..i]);
                start = i + 1;
            }
        }
        if (start < all.Length)
        {
            lines.Add(all[start..]);
        }
        return [.. lines];
    }

    private sealed record Interpreted(uint Serial, int Records, AuditEventSummary Summary, string? EnrichedSyscall, string? EnrichedArch);

    private static List<Interpreted> Reassemble(string file, out AuditReassemblerCounters counters)
    {
        var events = new List<Interpreted>();
        var r = new AuditReassembler(ev =>
        {
            using (ev)
            {
                string? syscall = null, arch = null;
                int i = ev.IndexOf(AuditMessageType.Syscall);
                if (i >= 0)
                {
                    AuditRecordReader suffix = ev[i].EnrichedFields();
                    while (suffix.Read())
                    {
                        if (suffix.Key.SequenceEqual("SYSCALL"u8)) { syscall = Encoding.UTF8.GetString(suffix.Value); }
                        if (suffix.Key.SequenceEqual("ARCH"u8)) { arch = Encoding.UTF8.GetString(suffix.Value); }
                    }
                }
                events.Add(new Interpreted(ev.Serial, ev.Count, AuditEventInterpreter.Interpret(ev), syscall, arch));
            }
        });
        foreach (byte[] line in Lines(file))
        {
            Assert.Equal(AuditParseError.None, r.AddLogLine(line));
        }
        r.Flush();
        counters = r.Counters;
        return events;
    }

    private static List<(string Key, string Value, AuditValueKind Kind, bool InMessage)> Fields(ReadOnlySpan<byte> fields, out AuditParseError error)
    {
        var list = new List<(string, string, AuditValueKind, bool)>();
        var reader = new AuditRecordReader(fields);
        while (reader.Read())
        {
            list.Add((Encoding.UTF8.GetString(reader.Key), Encoding.UTF8.GetString(reader.Value), reader.ValueKind, reader.InMessage));
        }
        error = reader.Error;
        return list;
    }

    [Theory]
    [InlineData(Raw)]
    [InlineData(Enriched)]
    public void EveryRecord_Parses(string file)
    {
        byte[][] lines = Lines(file);
        int parsed = 0;
        foreach (byte[] line in lines)
        {
            Assert.Equal(AuditParseError.None, AuditLogLine.TryParse(line, out AuditLogLine l));
            Assert.True(AuditRecordReader.TryCreate(l.KernelText, out _, out AuditRecordReader reader));
            int fields = 0;
            while (reader.Read())
            {
                Assert.False(reader.Key.IsEmpty);
                fields++;
            }
            Assert.Equal(AuditParseError.None, reader.Error);
            Assert.True(fields > 0, Encoding.UTF8.GetString(line));
            parsed++;
        }
        Assert.Equal(3799, parsed);
    }

    [Theory]
    [InlineData(Raw)]
    [InlineData(Enriched)]
    public void EverySerial_BecomesExactlyOneEvent(string file)
    {
        var serials = new HashSet<uint>();
        foreach (byte[] line in Lines(file))
        {
            AuditLogLine.TryParse(line, out AuditLogLine l);
            AuditRecordHeader.TryParse(l.KernelText, out AuditRecordHeader h);
            serials.Add(h.Serial);
        }

        var events = Reassemble(file, out var counters);

        Assert.Equal(serials.Count, events.Count);
        Assert.Equal(serials.OrderBy(s => s), events.Select(e => e.Serial).Order());
        Assert.Equal(3799, events.Sum(e => e.Records));
        Assert.Equal(0, counters.RecordsRejected);
        Assert.Equal(0, counters.Evicted);
        Assert.Equal(0, counters.LateRecords);
        Assert.Equal(0, counters.SerialGaps);
        Assert.All(events, e => Assert.Equal(0, e.Summary.FieldErrors));
    }

    [Fact]
    public void EnrichedRecord_SameFieldsAsItsRawPart_SuffixKeptApart()
    {
        byte[][] enriched = Lines(Enriched);
        byte[][] raw = Lines(Raw);
        Assert.Equal(raw.Length, enriched.Length);
        int withSuffix = 0;
        for (int i = 0; i < enriched.Length; i++)
        {
            byte[] line = enriched[i];
            int gs = Array.IndexOf(line, (byte)0x1d);
            Assert.Equal(AuditParseError.None, AuditLogLine.TryParse(line, out AuditLogLine full));
            AuditLogLine.TryParse(gs < 0 ? line : line[..gs], out AuditLogLine rawPart);
            AuditRecordHeader.TryParse(full.KernelText, out AuditRecordHeader h);

            var fullFields = Fields(full.KernelText[h.FieldsStart..], out _);
            Assert.Equal(Fields(rawPart.KernelText[h.FieldsStart..], out _), fullFields);
            Assert.Equal(rawPart.KernelText.ToArray(), full.KernelText.ToArray());
            if (gs >= 0)
            {
                withSuffix++;
                Assert.Equal(line[(gs + 1)..], full.Enriched.ToArray());
                var suffix = Fields(full.Enriched, out var error);
                Assert.Equal(AuditParseError.None, error);
                Assert.NotEmpty(suffix);
                // auditd's interpretations (upper-case keys like SYSCALL=, AUID=) never leak into the kernel fields
                Assert.DoesNotContain(fullFields, f => f.Key.Any(char.IsUpper));
            }
            else
            {
                Assert.True(full.Enriched.IsEmpty);
            }

            // the two captures ran the same workload: same record type and field names, line by line
            AuditLogLine.TryParse(raw[i], out AuditLogLine other);
            AuditRecordHeader.TryParse(other.KernelText, out AuditRecordHeader oh);
            Assert.Equal(other.Type, full.Type);
            Assert.Equal(Fields(other.KernelText[oh.FieldsStart..], out _).Select(f => f.Key), fullFields.Select(f => f.Key));
        }
        Assert.Equal(1298, withSuffix);
    }

    [Fact]
    public void EnrichedSyscall_AgreesWithInterpretation()
    {
        var events = Reassemble(Enriched, out _);
        var withSyscall = events.Where(e => e.EnrichedSyscall is not null).ToList();

        Assert.True(withSyscall.Count > 800);
        Assert.All(withSyscall, e =>
        {
            Assert.Equal(e.EnrichedSyscall, e.Summary.Syscall);
            Assert.Equal(e.EnrichedArch, e.Summary.ArchName);
        });
    }

    [Theory]
    [InlineData(Raw)]
    [InlineData(Enriched)]
    public void LongCommandLine_RebuiltExactly(string file)
    {
        var events = Reassemble(file, out _);

        var ev = Assert.Single(events, e => e.Summary.Argc == 3002);
        List<byte[]> argv = ev.Summary.Argv!;
        Assert.True(ev.Summary.ArgvComplete);
        Assert.Equal(3002, argv.Count);
        Assert.Equal("/bin/true"u8.ToArray(), argv[0]);
        Assert.Equal(Enumerable.Repeat((byte)'A', 9000).ToArray(), argv[1]);
        for (int i = 0; i < 3000; i++)
        {
            Assert.Equal(Encoding.ASCII.GetBytes($"x{i}"), argv[i + 2]);
        }
    }

    [Theory]
    [InlineData(Raw)]
    [InlineData(Enriched)]
    public void TrickyArguments_RebuiltExactly(string file)
    {
        var events = Reassemble(file, out _);

        var ev = Assert.Single(events, e => e.Summary.Argv is { Count: > 0 } a && a[0].AsSpan().SequenceEqual("/bin/echo"u8));
        Assert.Equal(["/bin/echo", "arg with spaces", "quote\"d", "tab\tx", "ünïcødé"], ev.Summary.Argv!.Select(Encoding.UTF8.GetString));
        Assert.Equal(ev.Summary.Argv!.Select(a => a), ev.Summary.Proctitle!, ByteArrayComparer.Instance);
    }

    [Fact]
    public void RawAndEnriched_SameCommandLinesAndSocketAddresses()
    {
        var raw = Reassemble(Raw, out _);
        var enriched = Reassemble(Enriched, out _);

        var rawArgv = raw.Where(e => e.Summary.Argv is not null).Select(e => e.Summary.Argv!).ToList();
        var enrichedArgv = enriched.Where(e => e.Summary.Argv is not null).Select(e => e.Summary.Argv!).ToList();
        Assert.Equal(141, rawArgv.Count);
        Assert.Equal(rawArgv.Count, enrichedArgv.Count);
        for (int i = 0; i < rawArgv.Count; i++)
        {
            Assert.Equal(rawArgv[i], enrichedArgv[i], ByteArrayComparer.Instance);
        }

        string[] Families(List<Interpreted> evs) => evs.Where(e => e.Summary.SocketAddress is not null).Select(e => e.Summary.SocketAddress!.Family).Distinct().Order().ToArray();
        Assert.Equal(["inet", "inet6", "netlink", "unix"], Families(raw));
        Assert.Equal(Families(raw), Families(enriched));
        Assert.Contains(raw, e => e.Summary.SocketAddress is { IsAbstract: true } sa && sa.Path!.AsSpan().SequenceEqual("abstractsock"u8));
    }

    internal sealed class ByteArrayComparer : IEqualityComparer<byte[]>
    {
        public static readonly ByteArrayComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj) => obj.Length;
    }

    /// <summary>
    /// Names from the capture host's passwd and group (Fixtures/accounts) against the names auditd wrote into
    /// the ENRICHED capture: every id of every SYSCALL and PATH record.
    /// </summary>
    [Fact]
    public void Names_EnrichedCorpus_SameAsAuditd()
    {
        var cache = new AccountNameCache(RepoPaths.Fixture("accounts"));
        int compared = 0;
        var r = new AuditReassembler(ev =>
        {
            using (ev)
            {
                AuditEventSummary s = AuditEventInterpreter.Interpret(ev, cache);
                int sc = ev.IndexOf(AuditMessageType.Syscall);
                if (sc >= 0)
                {
                    Dictionary<string, string> auditd = Suffix(ev[sc]);
                    AuditEventNames? n = s.Names;
                    foreach (var (key, ours) in new (string, string?)[]
                    {
                        ("UID", n?.Uid), ("AUID", n?.Auid), ("EUID", n?.Euid), ("SUID", n?.Suid), ("FSUID", n?.Fsuid),
                        ("GID", n?.Gid), ("EGID", n?.Egid), ("SGID", n?.Sgid), ("FSGID", n?.Fsgid),
                    })
                    {
                        // auditd writes "unset" for auid 4294967295, where we give no name
                        string? expected = auditd[key] == "unset" ? null : auditd[key];
                        Assert.True(expected == ours, $"serial {ev.Serial} {key}: auditd {auditd[key]}, ours {ours ?? "<none>"}");
                        compared++;
                    }
                }
                int path = 0;
                for (int i = ev.IndexOf(AuditMessageType.Path); i >= 0; i = ev.IndexOf(AuditMessageType.Path, i + 1), path++)
                {
                    Dictionary<string, string> auditd = Suffix(ev[i]);
                    if (auditd.TryGetValue("OUID", out string? owner))
                    {
                        Assert.Equal(owner, s.Names?.PathOuid?[path]);
                        Assert.Equal(auditd["OGID"], s.Names?.PathOgid?[path]);
                        compared += 2;
                    }
                }
            }
        });
        foreach (byte[] line in Lines(Enriched))
        {
            Assert.Equal(AuditParseError.None, r.AddLogLine(line));
        }
        r.Flush();

        Assert.True(compared > 8000, $"{compared} names compared");
    }

    private static Dictionary<string, string> Suffix(AuditRecord record)
    {
        var fields = new Dictionary<string, string>();
        AuditRecordReader suffix = record.EnrichedFields();
        while (suffix.Read())
        {
            fields[Encoding.UTF8.GetString(suffix.Key)] = Encoding.UTF8.GetString(suffix.Value);
        }
        return fields;
    }
}
