using System.Text;
using Microsoft.Extensions.Time.Testing;
using Sluice.Audit.Records;
using Sluice.Audit.Tables;

namespace Sluice.Audit.Tests.Records;

public sealed class AuditReassemblerTests
{
    private sealed record Completed(uint Serial, string Node, int[] Types, string[] Texts, CompletionReason Reason, string Timestamp);

    private readonly List<Completed> _events = [];
    private readonly FakeTimeProvider _time = new();

    private AuditReassembler Create(AuditReassemblerOptions? options = null) => new(ev =>
    {
        using (ev)
        {
            var types = new int[ev.Count];
            var texts = new string[ev.Count];
            for (int i = 0; i < ev.Count; i++)
            {
                types[i] = (int)ev[i].Type;
                texts[i] = Encoding.UTF8.GetString(ev[i].Text);
            }
            _events.Add(new Completed(ev.Serial, Encoding.UTF8.GetString(ev.Node), types, texts, ev.Reason, Encoding.ASCII.GetString(ev.Timestamp)));
        }
    }, _time, options);

    private static byte[] Text(uint serial, string fields = "x=1") => Encoding.UTF8.GetBytes($"audit(1700000000.123:{serial}): {fields}");

    [Fact]
    public void Add_SyscallThroughEoe_OneEventInOrder()
    {
        var r = Create();
        r.Add(AuditMessageType.Syscall, Text(10));
        r.Add(AuditMessageType.Cwd, Text(10));
        r.Add(AuditMessageType.Path, Text(10));
        Assert.Empty(_events);
        r.Add(AuditMessageType.Eoe, Text(10, ""));

        var ev = Assert.Single(_events);
        Assert.Equal(10u, ev.Serial);
        Assert.Equal([1300, 1307, 1302], ev.Types);
        Assert.Equal(CompletionReason.EndOfEvent, ev.Reason);
        Assert.Equal("1700000000.123", ev.Timestamp);
        Assert.Equal(1, r.Counters.CompletedByEndOfEvent);
    }

    [Fact]
    public void Add_RecordBeforeSyscall_GroupedWithIt()
    {
        var r = Create();
        r.Add(AuditMessageType.ConfigChange, Text(7, "op=add_rule"));
        r.Add(AuditMessageType.Syscall, Text(7, "syscall=44"));
        r.Add(AuditMessageType.Proctitle, Text(7, "proctitle=6100"));

        var ev = Assert.Single(_events);
        Assert.Equal([1305, 1300, 1327], ev.Types);
        Assert.Equal(CompletionReason.LastRecord, ev.Reason);
    }

    [Fact]
    public void Add_InterleavedEvents_EachGetsItsOwnRecords()
    {
        var r = Create();
        r.Add(AuditMessageType.Syscall, Text(1, "a=1"));
        r.Add(AuditMessageType.Syscall, Text(2, "a=2"));
        r.Add(AuditMessageType.Path, Text(2, "p=2"));
        r.Add(AuditMessageType.Path, Text(1, "p=1"));
        r.Add(AuditMessageType.Eoe, Text(2, ""));
        r.Add(AuditMessageType.Eoe, Text(1, ""));

        Assert.Equal([2u, 1u], _events.Select(e => e.Serial));
        Assert.Equal(["audit(1700000000.123:2): a=2", "audit(1700000000.123:2): p=2"], _events[0].Texts);
        Assert.Equal(["audit(1700000000.123:1): a=1", "audit(1700000000.123:1): p=1"], _events[1].Texts);
        Assert.Equal(0, r.Counters.SerialGaps);
    }

    [Fact]
    public void Add_EoeAfterProctitle_AbsorbedNotANewEvent()
    {
        var r = Create();
        r.Add(AuditMessageType.Syscall, Text(5));
        r.Add(AuditMessageType.Proctitle, Text(5));
        r.Add(AuditMessageType.Eoe, Text(5, ""));

        Assert.Single(_events);
        Assert.Equal(0, r.InFlightEvents);
        Assert.Equal(1, r.Counters.TrailingEndOfEvent);
    }

    [Theory]
    [InlineData(1112)] // USER_LOGIN
    [InlineData(1100)] // USER_AUTH
    [InlineData(1200)] // DAEMON_START
    [InlineData(1007)]
    [InlineData(2000)] // KERNEL
    [InlineData(2100)]
    [InlineData(2501)]
    public void Add_StandaloneType_CompletesAtOnce(int type)
    {
        var r = Create();
        r.Add((AuditMessageType)type, Text(9));

        Assert.Equal(CompletionReason.LastRecord, Assert.Single(_events).Reason);
    }

    [Theory]
    [InlineData(1300)]
    [InlineData(1400)] // AVC comes before SYSCALL
    [InlineData(1305)]
    [InlineData(1999)]
    public void Add_NonFinalType_WaitsForEnd(int type)
    {
        var r = Create();
        r.Add((AuditMessageType)type, Text(9));

        Assert.Empty(_events);
        Assert.Equal(1, r.InFlightEvents);
    }

    [Fact]
    public void AddLogLine_UnknownTypeWithOddText_KeptWhole()
    {
        var r = Create();
        string odd = "audit(1.000:8): some words { not fields } key= \"unterminated \u00e9";
        r.AddLogLine(Encoding.UTF8.GetBytes("type=UNKNOWN[1999] msg=" + odd));
        r.Flush();

        var ev = Assert.Single(_events);
        Assert.Equal([1999], ev.Types);
        Assert.Equal([odd], ev.Texts);
    }

    [Fact]
    public void CompleteExpired_AfterTimeout_CompletesOnlyOldEvents()
    {
        var r = Create(new AuditReassemblerOptions { Timeout = TimeSpan.FromSeconds(2) });
        r.Add(AuditMessageType.Syscall, Text(1));
        _time.Advance(TimeSpan.FromSeconds(1.5));
        r.Add(AuditMessageType.Syscall, Text(2));
        Assert.Equal(0, r.CompleteExpired());

        _time.Advance(TimeSpan.FromSeconds(0.5));
        Assert.Equal(1, r.CompleteExpired());

        var ev = Assert.Single(_events);
        Assert.Equal(1u, ev.Serial);
        Assert.Equal(CompletionReason.Timeout, ev.Reason);
        Assert.Equal(1, r.InFlightEvents);
        Assert.Equal(1, r.Counters.CompletedByTimeout);
    }

    [Fact]
    public void Add_OverEventLimit_EvictsOldestAndCounts()
    {
        var r = Create(new AuditReassemblerOptions { MaxInFlightEvents = 3 });
        for (uint s = 1; s <= 5; s++)
        {
            r.Add(AuditMessageType.Syscall, Text(s));
        }

        Assert.Equal([1u, 2u], _events.Select(e => e.Serial));
        Assert.All(_events, e => Assert.Equal(CompletionReason.Evicted, e.Reason));
        Assert.Equal(3, r.InFlightEvents);
        Assert.Equal(2, r.Counters.EvictedByCount);
        Assert.Equal(2, r.Counters.Evicted);
    }

    [Fact]
    public void Add_OverByteLimit_EvictsOldestButNeverTheCurrentEvent()
    {
        var r = Create(new AuditReassemblerOptions { MaxRecordBytes = 1024, MaxInFlightBytes = 1024 });
        string pad = new('p', 400);
        r.Add(AuditMessageType.Syscall, Text(1, pad));
        r.Add(AuditMessageType.Syscall, Text(2, pad));
        Assert.Empty(_events);
        r.Add(AuditMessageType.Syscall, Text(3, pad));
        Assert.Equal([1u], _events.Select(e => e.Serial));

        r.Add(AuditMessageType.Path, Text(3, pad));

        Assert.Equal([1u, 2u], _events.Select(e => e.Serial));
        Assert.Equal(2, r.Counters.EvictedByBytes);
        Assert.True(r.InFlightBytes <= 1024);
        r.Flush();
        Assert.Equal([1300, 1302], _events[^1].Types);
    }

    [Fact]
    public void Add_SerialJump_CountsGapAndLateArrivalFillsIt()
    {
        var r = Create();
        r.Add(AuditMessageType.Syscall, Text(100));
        r.Add(AuditMessageType.Syscall, Text(104));

        Assert.Equal(3, r.Counters.SerialGaps);
        Assert.Equal(1, r.Counters.SerialJumps);

        r.Add(AuditMessageType.Syscall, Text(102));

        Assert.Equal(2, r.Counters.SerialGaps);
        Assert.Equal(1, r.Counters.SerialsReordered);
    }

    [Fact]
    public void ResumeAfter_FirstSerialAfterIt_CountsTheSerialsBetweenAsGaps()
    {
        var r = Create();
        r.ResumeAfter(uint.MaxValue - 2); // across the wrap: MaxValue-1, MaxValue, 0, 1 never came

        r.Add(AuditMessageType.Syscall, Text(2));
        r.Add(AuditMessageType.Syscall, Text(3));

        Assert.Equal(4, r.Counters.SerialGaps);
        Assert.Equal(1, r.Counters.SerialJumps);
    }

    [Fact]
    public void Add_SerialWrapsAround_NoGapAndEventsStayApart()
    {
        var r = Create();
        r.Add(AuditMessageType.Syscall, Text(uint.MaxValue - 1));
        r.Add(AuditMessageType.Syscall, Text(uint.MaxValue));
        r.Add(AuditMessageType.Syscall, Text(0));
        r.Add(AuditMessageType.Syscall, Text(1));
        r.Add(AuditMessageType.Syscall, Text(3));
        r.Flush();

        Assert.Equal([uint.MaxValue - 1, uint.MaxValue, 0u, 1u, 3u], _events.Select(e => e.Serial));
        Assert.Equal(1, r.Counters.SerialGaps);
        Assert.Equal(0, r.Counters.SerialRestarts);
    }

    [Fact]
    public void Add_SerialFarBack_CountsRestartNotGap()
    {
        var r = Create();
        r.Add(AuditMessageType.Syscall, Text(5_000_000));
        r.Add(AuditMessageType.Syscall, Text(12));
        r.Add(AuditMessageType.Syscall, Text(13));

        Assert.Equal(1, r.Counters.SerialRestarts);
        Assert.Equal(0, r.Counters.SerialGaps);
    }

    [Fact]
    public void AddLogLine_TwoNodesSameSerial_TwoEvents()
    {
        var r = Create();
        r.AddLogLine("node=a type=SYSCALL msg=audit(1.000:42): x=1"u8);
        r.AddLogLine("node=b type=SYSCALL msg=audit(1.000:42): x=2"u8);
        r.AddLogLine("node=a type=PROCTITLE msg=audit(1.000:42): proctitle=61"u8);
        r.AddLogLine("node=b type=PROCTITLE msg=audit(1.000:42): proctitle=62"u8);

        Assert.Equal(["a", "b"], _events.Select(e => e.Node));
        Assert.All(_events, e => Assert.Equal([1300, 1327], e.Types));
    }

    [Fact]
    public void AddLogLine_DaemonRecords_DoNotCountAsGaps()
    {
        var r = Create();
        r.AddLogLine("type=DAEMON_START msg=audit(1.000:1244): op=start"u8);
        r.AddLogLine("type=SYSCALL msg=audit(1.000:1173823): x=1"u8);
        r.AddLogLine("type=PROCTITLE msg=audit(1.000:1173823): proctitle=61"u8);
        r.AddLogLine("type=SYSCALL msg=audit(1.000:1173824): x=1"u8);

        Assert.Equal(0, r.Counters.SerialGaps);
        Assert.Equal(0, r.Counters.SerialRestarts);
    }

    [Fact]
    public void Add_RecordAfterTimeout_CountedLateAndKept()
    {
        var r = Create();
        r.Add(AuditMessageType.Syscall, Text(3));
        _time.Advance(TimeSpan.FromSeconds(3));
        r.CompleteExpired();
        r.Add(AuditMessageType.Path, Text(3));
        r.Flush();

        Assert.Equal(2, _events.Count);
        Assert.Equal(1, r.Counters.LateRecords);
        Assert.Equal([1302], _events[1].Types);
    }

    [Fact]
    public void Add_BadHeaderOrTooLong_RejectedAndCounted()
    {
        var r = Create(new AuditReassemblerOptions { MaxRecordBytes = 256, MaxInFlightBytes = 256 });

        Assert.False(r.Add(AuditMessageType.Syscall, "garbage"u8));
        Assert.False(r.Add(AuditMessageType.Syscall, Text(1, new string('x', 300))));
        Assert.True(r.Add(AuditMessageType.Syscall, Text(1)));

        var c = r.Counters;
        Assert.Equal(2, c.RecordsRejected);
        Assert.Equal(1, c.RejectedBadHeader);
        Assert.Equal(1, c.RejectedBadLength);
        Assert.Equal(1, c.RecordsAccepted);
    }

    [Fact]
    public void Add_OrphanEoe_CountedNotEmitted()
    {
        var r = Create();
        r.Add(AuditMessageType.Eoe, Text(77, ""));

        Assert.Empty(_events);
        Assert.Equal(1, r.Counters.OrphanEndOfEvent);
    }

    [Fact]
    public void Flush_InFlight_CompletesAllOldestFirst()
    {
        var r = Create();
        r.Add(AuditMessageType.Syscall, Text(2));
        r.Add(AuditMessageType.Syscall, Text(1));

        Assert.Equal(2, r.Flush());
        Assert.Equal([2u, 1u], _events.Select(e => e.Serial));
        Assert.All(_events, e => Assert.Equal(CompletionReason.Flushed, e.Reason));
        Assert.Equal(2, r.Counters.EventsCompleted);
    }

    [Fact]
    public void Options_Invalid_ThrowNamingTheOption()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Create(new AuditReassemblerOptions { Timeout = TimeSpan.Zero }));
        Assert.Equal("Timeout", e.ParamName);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => Create(new AuditReassemblerOptions { SerialWindow = 1000 }));
        Assert.Equal("SerialWindow", e.ParamName);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => Create(new AuditReassemblerOptions { MaxInFlightEvents = 0 }));
        Assert.Equal("MaxInFlightEvents", e.ParamName);
    }

    [Fact]
    public void Event_TryGetField_ReadsRawValueWithoutInterpreting()
    {
        bool found = false;
        string? value = null;
        var r = new AuditReassembler(ev =>
        {
            using (ev)
            {
                found = ev.TryGetField(AuditMessageType.Syscall, "key"u8, out ReadOnlySpan<byte> v, out AuditValueKind kind) && kind == AuditValueKind.Quoted;
                value = Encoding.UTF8.GetString(v);
            }
        }, _time);
        r.Add(AuditMessageType.Syscall, Text(1, "syscall=59 key=\"exec\""));
        r.Add(AuditMessageType.Eoe, Text(1, ""));

        Assert.True(found);
        Assert.Equal("exec", value);
    }

    [Fact]
    public void Add_SteadyState_AllocatesNothingPerRecord()
    {
        var r = new AuditReassembler(ev => ev.Dispose(), _time);
        byte[][] records =
        [
            "audit(1700000000.123:1): arch=c000003e syscall=110 success=yes exit=1 a0=0 a1=0 a2=0 a3=0 items=0 ppid=1 pid=2 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm=\"x\" exe=\"/x\" key=\"k\""u8.ToArray(),
            "audit(1700000000.123:1): proctitle=78"u8.ToArray(),
            "audit(1700000000.123:1): "u8.ToArray(),
        ];
        AuditMessageType[] types = [AuditMessageType.Syscall, AuditMessageType.Proctitle, AuditMessageType.Eoe];

        void Run(uint from, int events)
        {
            for (uint s = from; s < from + events; s++)
            {
                for (int i = 0; i < records.Length; i++)
                {
                    // rewrite the serial in place: same length, so the records stay valid
                    byte[] text = records[i];
                    text[21] = (byte)('1' + (s % 9));
                    r.Add(types[i], text);
                }
            }
        }

        Run(1, 10_000); // warm up the pools and the dictionary
        long before = GC.GetAllocatedBytesForCurrentThread();
        Run(1, 100_000);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.True(allocated < 300_000 / 100, $"{allocated} bytes allocated for 300000 records");
    }
}
