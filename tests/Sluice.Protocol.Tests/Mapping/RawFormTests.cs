using System.Text;
using Google.Protobuf;
using Sluice.Audit.Records;
using Sluice.Protocol.Mapping;
using Sluice.Protocol.V1;
using Record = Sluice.Protocol.V1.Record;

namespace Sluice.Protocol.Tests.Mapping;

/// <summary>
/// The raw form an agent ships (records and header only) becomes, at the collector, exactly the full
/// form the agent would have sent: checked event by event over the real-kernel corpus, through the
/// wire (serialized and parsed), as the collector receives it.
/// </summary>
public sealed class RawFormTests
{
    public static TheoryData<string> Corpora => new() { "kernel-6.18-raw.log", "kernel-6.18-enriched.log" };

    [Theory]
    [MemberData(nameof(Corpora))]
    public void Expand_EveryCorpusEventInRawForm_EqualsTheFullForm(string file)
    {
        var raw = new RawEventMapper();
        int events = 0;
        var mismatches = new List<string>();
        var reassembler = new AuditReassembler(ev =>
        {
            using (ev)
            {
                Event full = AuditEventMapper.ToProto(ev, AuditEventInterpreter.Interpret(ev));
                // Serialized before the event is disposed, as the agent's batcher does: the raw form wraps its buffers.
                byte[] wire = raw.Map(ev).ToByteArray();
                Event received = Event.Parser.ParseFrom(wire);
                Assert.True(received.RawOnly);
                Event expanded = AuditEventMapper.Expand(received);
                events++;
                if (!expanded.Equals(full))
                {
                    mismatches.Add($"serial {ev.Serial}:\n  full     {full}\n  expanded {expanded}");
                }
            }
        });
        foreach (string line in File.ReadLines(Path.Combine(AppContext.BaseDirectory, "Fixtures", "corpus", file)))
        {
            Assert.Equal(AuditParseError.None, reassembler.AddLogLine(Encoding.UTF8.GetBytes(line)));
        }
        reassembler.Flush();

        Assert.True(events > 800, $"{events} events in {file}");
        Assert.Empty(mismatches);
    }

    [Fact]
    public void Map_RawForm_CarriesOnlyHeaderAndRecords_AndIsSmallerThanTheFullForm()
    {
        Event? rawForm = null;
        Event? full = null;
        var reassembler = new AuditReassembler(ev =>
        {
            using (ev)
            {
                if (ev.Serial == Execve.Serial)
                {
                    rawForm = Event.Parser.ParseFrom(new RawEventMapper().Map(ev).ToByteArray());
                    full = AuditEventMapper.ToProto(ev);
                }
            }
        });
        foreach (string line in Execve.Lines)
        {
            reassembler.AddLogLine(Encoding.UTF8.GetBytes(line));
        }
        reassembler.Flush();

        Assert.NotNull(rawForm);
        Assert.NotNull(full);
        var header = new Event
        {
            Serial = full.Serial, Timestamp = full.Timestamp, TimeUnixMs = full.TimeUnixMs, Completion = full.Completion, RawOnly = true,
        };
        header.Records.Add(full.Records.Select(r => new Record { Type = r.Type, Raw = r.Raw }));
        Assert.Equal(header, rawForm);
        Assert.Equal("execve", full.Syscall);
        Assert.Equal(["/bin/ls", "-la", "/tmp"], full.Argv.Select(a => a.ToStringUtf8()));
        Assert.True(rawForm.CalculateSize() < full.CalculateSize(), $"raw {rawForm.CalculateSize()} B, full {full.CalculateSize()} B");
    }

    [Fact]
    public void Expand_RawFormWithForgedFields_KeepsOnlyWhatTheRecordsSay()
    {
        Event forged = Execve.RawForm();
        forged.Syscall = "open";
        forged.Exe = ByteString.CopyFromUtf8("/usr/bin/innocent");
        forged.Argv.Add(ByteString.CopyFromUtf8("forged"));
        forged.UidName = "root";

        Event expanded = AuditEventMapper.Expand(forged);

        Assert.False(expanded.RawOnly);
        Assert.Equal("execve", expanded.Syscall);
        Assert.Equal("/bin/ls", expanded.Exe.ToStringUtf8());
        Assert.Equal(["/bin/ls", "-la", "/tmp"], expanded.Argv.Select(a => a.ToStringUtf8()));
        Assert.False(expanded.HasUidName);
    }

    [Fact]
    public void Expand_RecordWithoutAValidHeader_StoredExactly_NothingInterpreted()
    {
        Event e = Execve.RawForm();
        byte[] garbage = [0xff, 0x00, (byte)'x', 0x1d, (byte)'='];
        e.Records.Add(new Record { Type = 99_999, Raw = ByteString.CopyFrom(garbage) });

        Event expanded = AuditEventMapper.Expand(e);

        Assert.Equal(e.Records.Count, expanded.Records.Count);
        Assert.Equal(garbage, expanded.Records[^1].Raw.ToByteArray());
        Assert.Equal("UNKNOWN[99999]", expanded.Records[^1].TypeName);
        Assert.Equal("SYSCALL", expanded.Records[0].TypeName);
        Assert.Equal("", expanded.Syscall);
        Assert.Empty(expanded.Argv);
        Assert.Equal((e.Serial, e.Timestamp, e.TimeUnixMs), (expanded.Serial, expanded.Timestamp, expanded.TimeUnixMs));
    }

    [Fact]
    public void Expand_FullForm_ReturnedAsItIs()
    {
        Event full = Execve.RawForm();
        full.RawOnly = false;
        full.Syscall = "whatever the agent said";

        Assert.Same(full, AuditEventMapper.Expand(full));
    }

    /// <summary>One execve event of the corpus's shape: /bin/ls -la /tmp.</summary>
    private static class Execve
    {
        public const uint Serial = 4242;

        public static readonly string[] Lines =
        [
            "type=SYSCALL msg=audit(1764000000.123:4242): arch=c000003e syscall=59 success=yes exit=0 a0=55d0 a1=55d1 a2=55d2 a3=0 items=2 ppid=100 pid=101 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm=\"ls\" exe=\"/bin/ls\" subj=unconfined key=\"exec\"",
            "type=EXECVE msg=audit(1764000000.123:4242): argc=3 a0=\"/bin/ls\" a1=\"-la\" a2=\"/tmp\"",
            "type=CWD msg=audit(1764000000.123:4242): cwd=\"/root\"",
            "type=PATH msg=audit(1764000000.123:4242): item=0 name=\"/bin/ls\" inode=1 dev=08:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0",
            "type=PROCTITLE msg=audit(1764000000.123:4242): proctitle=2F62696E2F6C73002D6C61002F746D70",
        ];

        public static Event RawForm()
        {
            Event? e = null;
            var reassembler = new AuditReassembler(ev =>
            {
                using (ev)
                {
                    e = Event.Parser.ParseFrom(new RawEventMapper().Map(ev).ToByteArray());
                }
            });
            foreach (string line in Lines)
            {
                reassembler.AddLogLine(Encoding.UTF8.GetBytes(line));
            }
            reassembler.Flush();
            return e ?? throw new InvalidOperationException("no event");
        }
    }
}
