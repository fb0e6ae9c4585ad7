using System.Text;
using Sluice.Audit.Tables;
using Sluice.Benchmarks.Harness;
using Sluice.Benchmarks.Stages;

namespace Sluice.Benchmarks.Tests.Stages;

public sealed class StageTests : IDisposable
{
    private const string Key = "sluice-bench-cmp-1-capture";

    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-stages-test-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>getppid events as the kernel sends them: SYSCALL (with the key), PROCTITLE, EOE; one unkeyed CONFIG_CHANGE first.</summary>
    private string WriteCapture(int events)
    {
        string path = Path.Combine(_dir, "capture.records");
        using var writer = new CapturedRecords.Writer(File.Create(path), Key);
        void Record(AuditMessageType type, string text) => writer.OnRecord(type, Encoding.ASCII.GetBytes(text));
        Record(AuditMessageType.ConfigChange, $"audit(1764000000.000:100): auid=0 ses=4 op=add_rule key=\"{Key}\" list=4 res=1");
        for (int i = 0; i < events; i++)
        {
            string head = $"audit(1764000000.{i % 1000:D3}:{101 + i}): ";
            Record(AuditMessageType.Syscall, head + "arch=c000003e syscall=110 success=yes exit=1187 a0=0 a1=0 a2=0 a3=0 items=0 ppid=1187 pid=4242 auid=1000 uid=0 gid=0 "
                + $"euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts1 ses=4 comm=\"audit_load\" exe=\"/tmp/audit_load\" key=\"{Key}\"");
            Record(AuditMessageType.Proctitle, head + "proctitle=2F746D702F61756469745F6C6F6164");
            Record(AuditMessageType.Eoe, head);
        }
        Assert.Equal(events, writer.KeyedEvents);
        Assert.Equal(1 + 3 * events, writer.Records);
        return path;
    }

    [Fact]
    public void Capture_WrittenThenRead_GivesTheSameRecordsInOrder()
    {
        var records = CapturedRecords.Read(WriteCapture(2));

        Assert.Equal(7, records.Count);
        Assert.Equal(AuditMessageType.ConfigChange, records[0].Type);
        Assert.Equal(AuditMessageType.Syscall, records[1].Type);
        Assert.StartsWith("audit(1764000000.000:101): arch=c000003e", Encoding.ASCII.GetString(records[1].Text.Span), StringComparison.Ordinal);
        Assert.Equal("audit(1764000000.001:102): ", Encoding.ASCII.GetString(records[6].Text.Span));
    }

    [Fact]
    public void Capture_TruncatedOrForeign_IsRefusedWithWhatIsWrong()
    {
        byte[] whole = File.ReadAllBytes(WriteCapture(1));
        var e = Assert.Throws<InvalidDataException>(() => CapturedRecords.Parse(whole[..^3]));
        Assert.Contains("claims", e.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidDataException>(() => CapturedRecords.Parse(whole[..(CapturedRecords.Magic.Length + 4)]));
        e = Assert.Throws<InvalidDataException>(() => CapturedRecords.Parse("type=SYSCALL msg=audit(1.0:1): x\n"u8.ToArray()));
        Assert.Contains("not a record capture", e.Message, StringComparison.Ordinal);
    }

    /// <summary>The in-process levels that need no collector, on the agent's own classes: every event gets through, and the spool is left empty.</summary>
    [Theory]
    [InlineData("reassemble")]
    [InlineData("filter")]
    [InlineData("interpret")]
    [InlineData("serialize")]
    [InlineData("spool")]
    public void Level_TakesEveryRecord_AndFinishes(string name)
    {
        var records = CapturedRecords.Read(WriteCapture(300));
        string levelDir = Path.Combine(_dir, name);
        Directory.CreateDirectory(levelDir);
        File.WriteAllText(Path.Combine(levelDir, "audit.rules"), "");
        string config = Path.Combine(levelDir, "agent.json");
        // A port nothing listens on: these levels never send.
        File.WriteAllText(config, SluiceConsumer.AgentConfig(levelDir, 9, 65752, 0));

        using (var level = StageLevel.Create(name, config, levelDir))
        {
            var sink = level;
            records.Replay(ref sink, 0, 500);
            level.Tick();
            records.Replay(ref sink, 500, records.Count);
            level.Finish();
            // 300 getppid events and the CONFIG_CHANGE, to the end of the level (for spool: read back from it).
            Assert.Equal(301, level.Delivered);
        }
    }

    [Fact]
    public void Level_UnknownName_NamesTheKnownOnes()
    {
        string config = Path.Combine(_dir, "agent.json");
        File.WriteAllText(Path.Combine(_dir, "audit.rules"), "");
        File.WriteAllText(config, SluiceConsumer.AgentConfig(_dir, 9, 65752, 0));
        var e = Assert.Throws<ArgumentException>(() => StageLevel.Create("decompress", config, _dir));
        Assert.Contains("reassemble, filter, interpret, serialize, spool, send, compress", e.Message, StringComparison.Ordinal);
        // The harness runs the agent with its defaults: uncompressed, the raw form.
        Assert.Equal("None", StageLevel.ConfiguredCompression(config));
        // The harness's agent config ships to a collector with the defaults: the raw form, as the agent writes it.
        Assert.Equal("raw", StageLevel.ConfiguredForm(config));
    }

    [Fact]
    public void SampleLine_ParsedOrIgnoredOrRefused()
    {
        Assert.Equal(new StageSample("spool", 2, 50001, 123456.5, 7890), StageSample.Parse("stage-level spool 2 50001 123456.5 7890"));
        Assert.Null(StageSample.Parse("stage-info records 3 bytes 10 compression Gzip"));
        Assert.Null(StageSample.Parse("12:00:01.000 info: something the agent logged"));
        Assert.Throws<FormatException>(() => StageSample.Parse("stage-level spool two 50001 1.0 7890"));
    }

    private static List<StageSample> Levels(int repetition, long events, params (string Level, double CpuUs, long Bytes)[] levels) =>
        levels.Select(l => new StageSample(l.Level, repetition, l.Level == "reassemble" ? events : -1, l.CpuUs, l.Bytes)).ToList();

    [Fact]
    public void Breakdown_StageIsItsLevelsMedianMinusTheLevelBelow_AndTheStagesAddUpToTheTop()
    {
        // 1,000 events; CPU in µs per level (cumulative), three repetitions.
        var samples = new List<StageSample>();
        samples.AddRange(Levels(1, 1000, ("reassemble", 1000, 100_000), ("filter", 1100, 100_000), ("interpret", 3000, 400_000), ("serialize", 3500, 450_000),
            ("spool", 4500, 500_000), ("send", 7500, 900_000), ("compress", 9500, 1_000_000)));
        samples.AddRange(Levels(2, 1000, ("reassemble", 1200, 100_000), ("filter", 1300, 100_000), ("interpret", 3200, 400_000), ("serialize", 3600, 450_000),
            ("spool", 4600, 500_000), ("send", 7700, 900_000), ("compress", 9900, 1_000_000)));
        samples.AddRange(Levels(3, 1000, ("reassemble", 900, 100_000), ("filter", 1000, 100_000), ("interpret", 2900, 400_000), ("serialize", 3400, 450_000),
            ("spool", 4400, 500_000), ("send", 7600, 900_000), ("compress", 9600, 1_000_000)));
        var breakdown = new StageBreakdown(LoadKind.Getppid, 20000, 3001, 1000, "Gzip", samples);

        var rows = breakdown.Rows().ToDictionary(r => r.Stage);

        // Medians per level: 1.0, 1.1, 3.0, 3.5, 4.5, 7.6, 9.6 µs/event.
        Assert.Equal(1.0, rows["reassemble"].CpuUsPerEvent!.Value, 9);
        Assert.Equal(0.1, rows["filter"].CpuUsPerEvent!.Value, 9);
        Assert.Equal(1.9, rows["interpret"].CpuUsPerEvent!.Value, 9);
        Assert.Equal(0.5, rows["serialize"].CpuUsPerEvent!.Value, 9);
        Assert.Equal(1.0, rows["spool"].CpuUsPerEvent!.Value, 9);
        Assert.Equal(3.1, rows["send"].CpuUsPerEvent!.Value, 9);
        Assert.Equal(2.0, rows["compress"].CpuUsPerEvent!.Value, 9);
        Assert.Equal(300, rows["interpret"].AllocatedBytesPerEvent!.Value, 9);
        Assert.Equal([1.0, 1.2, 0.9], rows["reassemble"].LevelCpuPerEvent);
        Assert.Equal(["reassemble", "filter", "interpret", "serialize", "spool", "compress", "send"], breakdown.Rows().Select(r => r.Stage));
        Assert.Equal(9.6, breakdown.InProcessTotal().Cpu!.Value, 9);
        Assert.Equal(rows.Values.Sum(r => r.CpuUsPerEvent!.Value), breakdown.InProcessTotal().Cpu!.Value, 9);

        string md = breakdown.Markdown([new(20000, 2.0, 14.6, 1.25), new(60000, 1.5, null)]);
        Assert.Contains("| receive | 2.00 | — | — |", md, StringComparison.Ordinal);
        Assert.Contains("| compress | 2.00 | 100 | 9.50, 9.90, 9.60 |", md, StringComparison.Ordinal);
        Assert.Contains("| **in-process total** | **9.60** | **1000** | | compression Gzip, events in the ? form |", md, StringComparison.Ordinal);
        // 14.6 end to end against 2.0 + 9.6: 3.0 µs (21%) not in the stages; no Sluice figure at 60k.
        Assert.Contains("| 20,000 | 2.00 | 9.60 | 11.60 | 14.60 | 3.00 | 21% | 1.25 |", md, StringComparison.Ordinal);
        Assert.Contains("| 60,000 | 1.50 | 9.60 | 11.10 | — | — | — | — |", md, StringComparison.Ordinal);
    }

    [Fact]
    public void Breakdown_WithoutCompression_SendIsTheTop_GzipStillShownAsNotConfigured()
    {
        var samples = Levels(1, 500, ("reassemble", 500, 0), ("filter", 500, 0), ("interpret", 1000, 0), ("serialize", 1000, 0), ("spool", 1500, 0), ("send", 2500, 0), ("compress", 3500, 0));
        var breakdown = new StageBreakdown(LoadKind.Exec, 0, 5000, 500, "None", samples);

        Assert.Equal(5.0, breakdown.InProcessTotal().Cpu!.Value, 9);
        Assert.Equal(2.0, breakdown.Rows().Single(r => r.Stage == "compress").CpuUsPerEvent!.Value, 9);
        string md = breakdown.Markdown([]);
        Assert.Contains("| compress | (2.00: not configured) |", md, StringComparison.Ordinal);
        Assert.Contains("| **in-process total** | **5.00** |", md, StringComparison.Ordinal);
        Assert.Contains("exec load: 500 events (5,000 records) captured from the kernel at max/s", md, StringComparison.Ordinal);
    }
}
