using System.Text.Json;
using Sluice.Benchmarks.Harness;

namespace Sluice.Benchmarks.Tests.Harness;

/// <summary>Issue 19's cost in the comparison: the enrichment-off variant, the status section it reads, and the report's arithmetic.</summary>
public sealed class ContextCostTests
{
    [Fact]
    public void Consumers_SluiceNoCtx_IsAVariantOfItsOwn()
    {
        var o = CompareOptions.Parse(["--consumers", "bare,sluice,sluice-noctx,sluice-noctx"]);

        Assert.Equal([ConsumerKind.Bare, ConsumerKind.Sluice, ConsumerKind.SluiceNoContext], o.Consumers);
        Assert.True(o.UsesSluice);
        Assert.True(CompareOptions.Parse(["--consumers", "sluice-noctx"]).UsesSluice);
        Assert.False(CompareOptions.Parse(["--consumers", "bare,auditd"]).UsesSluice);
        // The default is unchanged: the variant runs only when asked for.
        Assert.DoesNotContain(ConsumerKind.SluiceNoContext, CompareOptions.Parse([]).Consumers);
        var e = Assert.Throws<ArgumentException>(() => CompareOptions.Parse(["--consumers", "sluice-nocontext"]));
        Assert.Contains("sluice-noctx", e.Message, StringComparison.Ordinal);
        Assert.Contains("sluice-noctx", CompareOptions.Usage, StringComparison.Ordinal);
    }

    [Fact]
    public void ConsumersFor_BothVariants_SwapOnEveryEvenRun()
    {
        var o = CompareOptions.Parse(["--consumers", "bare,sluice,auditd,sluice-noctx"]);

        Assert.Equal([ConsumerKind.Bare, ConsumerKind.Sluice, ConsumerKind.Auditd, ConsumerKind.SluiceNoContext], o.ConsumersFor(1));
        Assert.Equal([ConsumerKind.Bare, ConsumerKind.SluiceNoContext, ConsumerKind.Auditd, ConsumerKind.Sluice], o.ConsumersFor(2));
        Assert.Equal(o.ConsumersFor(1), o.ConsumersFor(3));
        // The options themselves are not changed by asking.
        Assert.Equal([ConsumerKind.Bare, ConsumerKind.Sluice, ConsumerKind.Auditd, ConsumerKind.SluiceNoContext], o.Consumers);

        var one = CompareOptions.Parse(["--consumers", "sluice,bare"]);
        Assert.Equal(one.Consumers, one.ConsumersFor(2));
    }

    [Fact]
    public void AgentConfig_OffWritesTheSection_OnWritesNothing()
    {
        string off = SluiceConsumer.AgentConfig("/tmp/t", 5000, 65752, 0, enrichmentOff: true);
        string on = SluiceConsumer.AgentConfig("/tmp/t", 5000, 65752, 0);

        using (var doc = JsonDocument.Parse(off))
        {
            var section = doc.RootElement.GetProperty("Enrichment");
            Assert.False(section.GetProperty("Enabled").GetBoolean());
            Assert.Single(section.EnumerateObject());
            Assert.Equal("bench-agent", doc.RootElement.GetProperty("AgentId").GetString());
        }
        using (var doc = JsonDocument.Parse(on))
        {
            // An agent that does not know the section refuses it: the default variant must not write it.
            Assert.False(doc.RootElement.TryGetProperty("Enrichment", out _));
            Assert.Equal(65752, doc.RootElement.GetProperty("Kernel").GetProperty("BacklogLimit").GetInt32());
        }
    }

    [Fact]
    public void AgentConfig_OnVariant_IsAcceptedByTodaysAgentConfiguration()
    {
        string dir = Directory.CreateTempSubdirectory("sluice-ctx-config-").FullName;
        try
        {
            string path = Path.Combine(dir, "agent.json");
            File.WriteAllText(path, SluiceConsumer.AgentConfig(dir, 5000, 65752, 0));
            // The agent's own loader (it refuses unknown keys) reads it: the default variant runs on any agent.
            Assert.Contains(Sluice.Benchmarks.Stages.StageLevel.ConfiguredForm(path), new[] { "raw", "interpreted" });
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void RefusedEnrichmentSection_TheBindersMessage_OnlyThat()
    {
        // What an agent before issue 19 printed when the off variant's agent.json reached it.
        Assert.True(SluiceConsumer.RefusedEnrichmentSection("sluice-agent: invalid configuration: 'ErrorOnUnknownConfiguration' was set on the provided BinderOptions, " +
            "but the following properties were not found on the instance of Sluice.Agent.Configuration.AgentOptions: 'Enrichment'"));
        Assert.False(SluiceConsumer.RefusedEnrichmentSection("sluice-agent: Enrichment: MaxProcesses must be > 0"));
        Assert.False(SluiceConsumer.RefusedEnrichmentSection("sluice-agent: the status socket directory was not found"));
    }

    [Fact]
    public void AgentConfig_OffVariant_AcceptedByTheAgent_OrRefusedInWordsTheHarnessRecognises()
    {
        // Before issue 19's agent side the loader refuses the section as an unknown key, and the harness
        // must tell that refusal apart (it says why the variant failed); with it, the section binds.
        string dir = Directory.CreateTempSubdirectory("sluice-ctx-config-").FullName;
        try
        {
            string path = Path.Combine(dir, "agent.json");
            File.WriteAllText(path, SluiceConsumer.AgentConfig(dir, 5000, 65752, 0, enrichmentOff: true));
            try
            {
                Assert.Contains(Sluice.Benchmarks.Stages.StageLevel.ConfiguredForm(path), new[] { "raw", "interpreted" });
            }
            catch (Exception e) when (e.GetType().Name == "ConfigurationException")
            {
                Assert.True(SluiceConsumer.RefusedEnrichmentSection("sluice-agent: " + e.Message), e.Message);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void StatusParse_SectionUnderAgent_AsStatusJsonPrintsIt()
    {
        string json = """
            {"enabled":1,"pid":4242,"rules":3,"agent":{"events":10,"enrichment":{"enabled":true,"processes":1234,"max_processes":32768,
             "exited_kept":17,"evicted":5,"table_bytes":987654,"parent_unknown":2,"proc_scanned":300}}}
            """.ReplaceLineEndings("");

        var e = EnrichmentStatus.Parse(json);

        Assert.Equal(new EnrichmentStatus(true, 1234, 987654, 32768, 5, 2), e);
    }

    [Fact]
    public void StatusParse_SectionAtTopLevel_AsTheStatusSocketSendsIt()
    {
        var e = EnrichmentStatus.Parse("""{"events":10,"enrichment":{"enabled":false,"processes":0,"table_bytes":0}}""");

        Assert.Equal(new EnrichmentStatus(false, 0, 0, null, null, null), e);
    }

    [Theory]
    [InlineData("""{"enabled":1,"pid":4242,"rules":3,"agent":{"events":10}}""")] // an agent before issue 19
    [InlineData("""{"enabled":1,"pid":0,"rules":0}""")] // no agent answering
    [InlineData("""{"agent":{"enrichment":null}}""")]
    [InlineData("""{"enrichment":[1,2]}""")]
    [InlineData("""[{"enrichment":{}}]""")]
    [InlineData("""{"enrichment":{"processes":""")] // cut short
    [InlineData("not json at all")]
    [InlineData("")]
    [InlineData(null)]
    public void StatusParse_NoSection_IsNull(string? json) => Assert.Null(EnrichmentStatus.Parse(json));

    [Fact]
    public void StatusParse_KeysOfAnotherTypeOrMissing_AreNullAndTheOthersKept()
    {
        var e = EnrichmentStatus.Parse("""{"agent":{"enrichment":{"enabled":"yes","processes":"12","table_bytes":1.5,"evicted":-3,"max_processes":18446744073709551615}}}""");

        Assert.Equal(new EnrichmentStatus(null, null, null, null, -3, null), e);
    }

    [Fact]
    public void JsonLine_PicksTheObjectAmongOtherOutput()
    {
        Assert.Equal("""{"a":1}""", EnrichmentStatus.JsonLine("warning: something\n  {\"a\":1}  \nmore"));
        Assert.Null(EnrichmentStatus.JsonLine("no json here\n"));
    }

    private static TrialResult Trial(int run, string consumer, long delivered, double cpuUs, long peakKb, long idleKb, EnrichmentStatus? enrichment = null,
        int rate = 2000, string? error = null) => new()
    {
        Run = run,
        Rate = rate,
        Consumer = consumer,
        Offered = delivered,
        GeneratorSeconds = 10,
        AchievedRate = delivered / 10.0,
        BaselineRate = 2000,
        Delivered = delivered,
        ConsumerCpuUs = cpuUs,
        ConsumerPeakRssKb = peakKb,
        ConsumerIdleRssKb = idleKb,
        SluiceVariant = consumer is ComparisonReport.Sluice or ComparisonReport.SluiceNoContext,
        Enrichment = enrichment,
        Error = error,
    };

    private static List<TrialResult> ThreeRuns() =>
    [
        // bare: 2 µs/event.
        Trial(1, ComparisonReport.Bare, 10_000, 20_000, 30 * 1024, 20 * 1024),
        Trial(2, ComparisonReport.Bare, 10_000, 20_000, 30 * 1024, 20 * 1024),
        Trial(3, ComparisonReport.Bare, 10_000, 20_000, 30 * 1024, 20 * 1024),
        // on: 6, 7, 5 µs/event → median 6; off: 5, 5, 4.5 → median 5. Per-run differences 1, 2, 0.5 → median 1, 0.5–2.
        Trial(1, ComparisonReport.Sluice, 10_000, 60_000, 50 * 1024, 24 * 1024, new(true, 1000, 200_000, 32768, 0, 1)),
        Trial(2, ComparisonReport.Sluice, 10_000, 70_000, 52 * 1024, 26 * 1024, new(true, 3000, 600_000, 32768, 2, 1)),
        Trial(3, ComparisonReport.Sluice, 10_000, 50_000, 54 * 1024, 25 * 1024, new(true, 2000, 400_000, 32768, 4, 1)),
        Trial(1, ComparisonReport.SluiceNoContext, 10_000, 50_000, 48 * 1024, 23 * 1024, new(false, 0, 0, 32768, 0, 0)),
        Trial(2, ComparisonReport.SluiceNoContext, 10_000, 50_000, 49 * 1024, 23 * 1024, new(false, 0, 0, 32768, 0, 0)),
        Trial(3, ComparisonReport.SluiceNoContext, 10_000, 45_000, 50 * 1024, 23 * 1024, new(false, 0, 0, 32768, 0, 0)),
    ];

    [Fact]
    public void ContextCosts_PairedByRun_MedianAndSpreadOfTheDifferences()
    {
        var trials = ThreeRuns();

        var c = Assert.Single(ComparisonReport.ContextCosts(trials, ComparisonReport.Rows(trials)));

        Assert.Equal(2000, c.Rate);
        Assert.Equal(6, c.On!.CpuPerEventUs!.Value, 9);
        Assert.Equal(5, c.Off!.CpuPerEventUs!.Value, 9);
        Assert.Equal(3, c.OnPerBare!.Value, 9);
        Assert.Equal(2.5, c.OffPerBare!.Value, 9);
        Assert.Equal([1, 2, 0.5], c.Differences.Select(d => Math.Round(d, 9)));
        Assert.Equal(1, c.CostUs!.Value, 9);
        Assert.Equal(0.5, c.CostMin!.Value, 9);
        Assert.Equal(2, c.CostMax!.Value, 9);
        Assert.Equal(0.2, c.CostShare!.Value, 9);
        Assert.Equal(2000, c.OnProcesses);
        Assert.Equal(400_000, c.OnTableBytes);
        Assert.Equal(200, c.BytesPerProcess!.Value, 9);
        Assert.Equal(2, c.OnEvicted);
        Assert.Equal(0, c.OffProcesses);
        Assert.Equal(52 - 49, c.PeakRssDeltaMb!.Value, 9);
        Assert.Equal(25 - 23, c.IdleRssDeltaMb!.Value, 9);
        Assert.Empty(ComparisonReport.ContextNotes([c]));
    }

    [Fact]
    public void ContextCosts_AFailedRun_IsNotPaired()
    {
        var trials = ThreeRuns();
        trials[7] = trials[7] with { Error = "sluice-agent exited with code 1" }; // off, run 2

        var c = Assert.Single(ComparisonReport.ContextCosts(trials, ComparisonReport.Rows(trials)));

        Assert.Equal([1, 0.5], c.Differences.Select(d => Math.Round(d, 9)));
        Assert.Equal(0.75, c.CostUs!.Value, 9);
    }

    [Fact]
    public void Markdown_BothVariants_HasTheSectionWithItsFigures()
    {
        string md = ComparisonReport.Markdown(ThreeRuns(), "header");

        Assert.Contains("| 2,000 | Sluice (enrichment off) | 3 |", md, StringComparison.Ordinal);
        Assert.Contains("Process context cost (issue 19)", md, StringComparison.Ordinal);
        Assert.Contains("| 2,000 | 6.00 | 5.00 | 3.00 | 2.50 | 1.00 (0.50–2.00) | 3 | 20.0% | 2.0 | 3.0 |", md, StringComparison.Ordinal);
        Assert.Contains("| 2,000 | on | on | 2,000 | 400,000 | 200 | 2 | 25 | 52 |", md, StringComparison.Ordinal);
        Assert.Contains("| 2,000 | off | off | 0 | 0 | — | — | 23 | 49 |", md, StringComparison.Ordinal);
        // Every trial names its table.
        Assert.Contains("process table: enrichment on, 3,000 processes, 600,000 bytes, 2 evicted", md, StringComparison.Ordinal);
    }

    [Fact]
    public void Markdown_AgentWithoutTheSection_SaysNA()
    {
        var trials = ThreeRuns().Select(t => t with { Enrichment = null }).ToList();

        string md = ComparisonReport.Markdown(trials, "header");

        Assert.Contains("| 2,000 | on | n/a | n/a | n/a | n/a | n/a | 25 | 52 |", md, StringComparison.Ordinal);
        Assert.Contains("| 2,000 | off | n/a | n/a | n/a | — | — | 23 | 49 |", md, StringComparison.Ordinal);
        Assert.Contains("reported no `enrichment` section", md, StringComparison.Ordinal);
        Assert.Contains("process table n/a", md, StringComparison.Ordinal);
        // The CPU figures do not depend on the section.
        Assert.Contains("| 2,000 | 6.00 | 5.00 | 3.00 | 2.50 | 1.00 (0.50–2.00) | 3 |", md, StringComparison.Ordinal);
    }

    [Fact]
    public void Markdown_WithoutTheOffVariant_HasNoSection()
    {
        var trials = ThreeRuns().Where(t => t.Consumer != ComparisonReport.SluiceNoContext).ToList();

        string md = ComparisonReport.Markdown(trials, "header");

        Assert.DoesNotContain("Process context cost", md, StringComparison.Ordinal);
        // The table is still named in every Sluice trial.
        Assert.Contains("process table: enrichment on, 1,000 processes", md, StringComparison.Ordinal);
    }

    [Fact]
    public void ContextNotes_VariantsThatDidNotDoWhatTheySay_AreNamed()
    {
        var trials = ThreeRuns();
        trials[3] = trials[3] with { Enrichment = new(false, 0, 0, null, null, null) }; // on, run 1, said off
        trials[6] = trials[6] with { Enrichment = new(true, 10, 10, null, null, null) }; // off, run 1, said on
        trials[4] = trials[4] with { Error = "x" };
        trials[5] = trials[5] with { Error = "x" };

        var notes = ComparisonReport.ContextNotes(ComparisonReport.ContextCosts(trials, ComparisonReport.Rows(trials)));

        Assert.Contains(notes, n => n.Contains("*on* variant reported enrichment off", StringComparison.Ordinal));
        Assert.Contains(notes, n => n.Contains("*off* variant reported enrichment on", StringComparison.Ordinal));
        Assert.Contains(notes, n => n.Contains("one run completed with both variants", StringComparison.Ordinal));
        string md = ComparisonReport.Markdown(trials, "header");
        Assert.Contains("| 2,000 | off | on/off/off |", md, StringComparison.Ordinal);
    }

    [Fact]
    public void ThreadCpu_TheOffVariant_IsNamed()
    {
        var trials = ThreeRuns().Select(t => t.SluiceVariant ? t with { ThreadCpu = [("sluice-agent", 1000)] } : t).ToList();

        string md = ComparisonReport.Markdown(trials, "header");

        Assert.Contains("- run 1, 2,000: sluice-agent 0.10", md, StringComparison.Ordinal);
        Assert.Contains("- run 1, 2,000, Sluice (enrichment off): sluice-agent 0.10", md, StringComparison.Ordinal);
    }
}
