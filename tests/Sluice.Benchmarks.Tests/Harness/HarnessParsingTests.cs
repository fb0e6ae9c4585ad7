using Sluice.Benchmarks.Harness;
using Sluice.Testing;

namespace Sluice.Benchmarks.Tests.Harness;

public sealed class HarnessParsingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-harness-test-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void ProcStat_CommWithSpacesAndParentheses_FieldsCountedFromTheLastParenthesis()
    {
        // Fields 1..17 of a real layout; the name holds ") (" to trip a naive split.
        string line = "4242 (.NET TP (x) Worker) S 17 4242 4242 0 -1 4194560 1234 0 0 0 311 97 5 3 20 0 12 0 100 0\n";

        var (comm, ppid, cpu) = ProcStat.Parse(line);

        Assert.Equal(".NET TP (x) Worker", comm);
        Assert.Equal(17, ppid);
        Assert.Equal(new ProcCpu(311, 97, 5, 3), cpu);
        Assert.Equal(408, cpu.Own);
        Assert.Equal(416, cpu.WithChildren);
    }

    [Fact]
    public void ProcStat_NotAStatLine_SaysWhy()
    {
        var e = Assert.Throws<FormatException>(() => ProcStat.Parse("4242 no parentheses here"));
        Assert.Contains("comm", e.Message, StringComparison.Ordinal);
        Assert.Throws<FormatException>(() => ProcStat.Parse("4242 (short) S 1 2"));
    }

    [Fact]
    public void ProcStat_ReadsThisProcess()
    {
        var cpu = ProcStat.Cpu(Environment.ProcessId);
        Assert.NotNull(cpu);
        Assert.True(ProcStat.PeakRssKb(Environment.ProcessId) > 0);
        Assert.Contains(ProcStat.Threads(Environment.ProcessId), t => t.Key == Environment.ProcessId);
    }

    [Fact]
    public void StatusKb_FindsTheNamedLine()
    {
        string status = "Name:\tsluice-agent\nVmPeak:\t  300000 kB\nVmHWM:\t  153600 kB\nVmRSS:\t  120000 kB\n";
        Assert.Equal(153600, ProcStat.StatusKb(status, "VmHWM"));
        Assert.Null(ProcStat.StatusKb(status, "VmSwap"));
    }

    [Fact]
    public void LogCounter_CountsOnlyCompleteMatchingLines_AndResumesWhereItStopped()
    {
        string path = Path.Combine(_dir, "audit.log");
        var counter = new LogCounter(path, ["type=SYSCALL ", " key=\"k1\""]);
        Assert.Equal(0, counter.Count()); // no file yet

        File.WriteAllText(path,
            "type=SYSCALL msg=audit(1.0:1): syscall=110 key=\"k1\"\n" +
            "type=PROCTITLE msg=audit(1.0:1): proctitle=6C6F6164 key=\"k1\"\n" +
            "type=SYSCALL msg=audit(1.0:2): syscall=110 key=\"k10\"\n" +
            "type=SYSCALL msg=audit(1.0:3): syscall=110 key=\"k1\"");
        Assert.Equal(1, counter.Count()); // the last line has no newline yet

        File.AppendAllText(path, "\ntype=SYSCALL msg=audit(1.0:4): syscall=110 key=\"k1\"\n");
        Assert.Equal(3, counter.Count());
    }

    [Fact]
    public void LogCounter_ExcludedStrings_AreNotCounted()
    {
        string path = Path.Combine(_dir, "laurel.log");
        File.WriteAllLines(path,
        [
            "{\"ID\":\"1.0:1\",\"CONFIG_CHANGE\":[{\"op\":\"add_rule\",\"key\":\"k\"}],\"SYSCALL\":{\"key\":null}}",
            "{\"ID\":\"1.0:2\",\"SYSCALL\":{\"syscall\":110,\"key\":\"k\"}}",
        ]);
        var counter = new LogCounter(path, ["\"SYSCALL\":{", "\"key\":\"k\""], ["\"CONFIG_CHANGE\":"]);
        Assert.Equal(1, counter.Count());
    }

    [Fact]
    public void Rates_AcceptNumbersThousandsAndMax_AndNameABadOne()
    {
        Assert.Equal([5000, 20000, 0], CompareOptions.ParseRates("5000, 20k,max"));
        var e = Assert.Throws<ArgumentException>(() => CompareOptions.ParseRates("5000,fast"));
        Assert.Contains("'fast'", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => CompareOptions.Parse(["--consumers", "bare,syslog"]));
        Assert.Throws<ArgumentException>(() => CompareOptions.Parse(["--runs"]));
        var o = CompareOptions.Parse(["--rates", "max", "--runs", "2", "--consumers", "sluice,bare,sluice", "--load", "exec"]);
        Assert.Equal([0], o.Rates);
        Assert.Equal(2, o.Runs);
        Assert.Equal([ConsumerKind.Sluice, ConsumerKind.Bare], o.Consumers);
        Assert.Equal(LoadKind.Exec, o.Load);
    }

    [Fact]
    public void GeneratorDoneLine_ParsedOrRefused()
    {
        var r = LoadGenerator.ParseDone("done 60096 3.004800 0");
        Assert.Equal(60096, r.Operations);
        Assert.Equal(20000, r.Rate, 0);
        Assert.Throws<FormatException>(() => LoadGenerator.ParseDone("finished 12"));
        Assert.Throws<InvalidOperationException>(() => LoadGenerator.ParseDone("done 10 1.0 3"));
    }

    [Fact]
    public void RuleText_NamesTheGeneratorAndTheKey()
    {
        Assert.Equal("-a always,exit -F arch=b64 -S getppid -F pid=77 -F key=k", CompareCommand.RuleText(LoadKind.Getppid, 77, "k"));
        Assert.Equal("-a always,exit -F arch=b64 -S execve -F ppid=77 -F key=k", CompareCommand.RuleText(LoadKind.Exec, 77, "k"));
        // Both compile with the agent's own rules compiler (the agent loads the same text from its rules file).
        foreach (var load in new[] { LoadKind.Getppid, LoadKind.Exec })
        {
            var set = Sluice.Audit.Rules.RuleParser.Parse(CompareCommand.RuleText(load, 77, "sluice-bench-cmp-1-1"));
            Assert.Empty(set.Errors);
            Assert.Single(set.Rules);
        }
    }

    [Fact]
    public void Options_PublishedAgentByDefault_StagesOnWithThreeRepetitions_AndTheirSwitches()
    {
        var o = CompareOptions.Parse([]);
        // No executable until given or published: the harness publishes with deploy/publish.sh.
        Assert.Null(o.AgentPath);
        Assert.Null(o.CollectorPath);
        Assert.True(o.Stages);
        Assert.Equal(3, o.StageRepetitions);
        Assert.EndsWith(Path.Combine("artifacts", "compare-publish"), o.PublishDirectory, StringComparison.Ordinal);

        o = CompareOptions.Parse(["--agent", "/opt/a/sluice-agent", "--no-stages", "--stage-repetitions", "5", "--publish-dir", "/tmp/p"]);
        o.UsePublished("/tmp/p/agent/sluice-agent", "/tmp/p/collector/sluice-collector");
        // What was given stays; only what was not is taken from the publish.
        Assert.Equal("/opt/a/sluice-agent", o.AgentPath);
        Assert.Equal("/tmp/p/collector/sluice-collector", o.CollectorPath);
        Assert.False(o.Stages);
        Assert.Equal(5, o.StageRepetitions);
        Assert.Equal("/tmp/p", o.PublishDirectory);
        Assert.Throws<ArgumentException>(() => CompareOptions.Parse(["--stage-repetitions", "0"]));
    }

    [Fact]
    public void AgentKind_JitWhenTheDllIsBesideIt_NativeAotOtherwise()
    {
        Assert.Equal("/p/agent/sluice-agent", AgentPublish.AgentIn("/p"));
        Assert.Equal("/p/collector/sluice-collector", AgentPublish.CollectorIn("/p"));
        string agent = Path.Combine(_dir, "sluice-agent");
        File.WriteAllText(agent, "");
        Assert.Equal("NativeAOT", AgentPublish.Kind(agent));
        File.WriteAllText(Path.Combine(_dir, "sluice-agent.dll"), "");
        Assert.Equal("JIT (IL + runtime)", AgentPublish.Kind(agent));
    }
}
