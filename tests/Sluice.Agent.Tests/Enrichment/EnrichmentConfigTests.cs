using System.Text;
using Sluice.Agent.Cli;
using Sluice.Agent.Configuration;
using Sluice.Agent.Enrichment;

namespace Sluice.Agent.Tests.Enrichment;

public sealed class EnrichmentConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-enrich-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string json)
    {
        string path = Path.Combine(_dir, "agent.json");
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void ShippedConfig_EnrichmentIsOnWithTheDocumentedValues()
    {
        var o = AgentConfiguration.Load(Path.Combine(AppContext.BaseDirectory, "config", "agent.json")).Enrichment;

        Assert.True(o.Enabled);
        Assert.Equal((8, 32768, 60, 32, 1024, true), (o.AncestryDepth, o.MaxProcesses, o.KeepExitedSeconds, o.MaxArgs, o.MaxArgBytes, o.ScanProcAtStart));
        Assert.True(AgentConfiguration.Load(Write("{}")).Enrichment.Enabled);
    }

    [Theory]
    [InlineData("{ \"Enrichment\": { \"MaxProcesses\": 10 } }", "MaxProcesses")]
    [InlineData("{ \"Enrichment\": { \"AncestryDepth\": 65 } }", "AncestryDepth")]
    [InlineData("{ \"Enrichment\": { \"KeepExitedSeconds\": -1 } }", "KeepExitedSeconds")]
    [InlineData("{ \"Enrichment\": { \"MaxArgBytes\": 2000000 } }", "MaxArgBytes")]
    [InlineData("{ \"Enrichment\": { \"Enabled\": \"sometimes\" } }", "Enrichment:Enabled")]
    [InlineData("{ \"Enrichment\": { \"MaxProcess\": 100 } }", "'MaxProcess'")]
    public void BadValue_ErrorNamesTheKey(string json, string expected)
    {
        var e = Assert.Throws<ConfigurationException>(() => AgentConfiguration.Load(Write(json)));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void EnvironmentVariable_TurnsItOff()
    {
        Environment.SetEnvironmentVariable("SLUICE_Enrichment__Enabled", "false");
        try
        {
            Assert.False(AgentConfiguration.Load(Write("{}")).Enrichment.Enabled);
        }
        finally
        {
            Environment.SetEnvironmentVariable("SLUICE_Enrichment__Enabled", null);
        }
    }

    [Fact]
    public void StatusText_HasOneEnrichmentLine()
    {
        Assert.Equal("  enrichment: off", StatusCommand.EnrichmentText(new EnrichmentStatus { Enabled = false }, "  "));
        string on = StatusCommand.EnrichmentText(new EnrichmentStatus { Enabled = true, Processes = 5, MaxProcesses = 64, Evicted = 2, TableBytes = 4096 }, "");
        Assert.StartsWith("enrichment: 5 processes of 64", on);
        Assert.Contains("2 evicted", on);
    }

    [Fact]
    public void Replay_CorpusCapture_ContextFromEventsAlone()
    {
        string corpus = Path.Combine(FindRoot(), "tests", "Sluice.Audit.Tests", "Fixtures", "corpus", "kernel-6.18-raw.log");
        using var stdout = new MemoryStream();

        Assert.Equal(0, ReplayCommand.Run([corpus], stdout, new StringWriter(), enrichment: new EnrichmentOptions()));

        var events = Encoding.UTF8.GetString(stdout.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement).ToList();
        var withContext = events.Where(e => e.TryGetProperty("context", out _)).ToList();
        Assert.NotEmpty(withContext);
        // No /proc in a replay: container and unit are never known.
        Assert.All(withContext, e =>
        {
            var c = e.GetProperty("context");
            Assert.Equal("unknown", c.GetProperty("container_state").GetString());
            Assert.Equal("unknown", c.GetProperty("unit_state").GetString());
            Assert.False(c.TryGetProperty("cgroup", out _));
        });
        // A parent is known only from an event of that process earlier in the capture.
        var seenPids = new HashSet<int>();
        int known = 0;
        foreach (var e in events)
        {
            if (e.TryGetProperty("context", out var c) && c.GetProperty("parent_state").GetString() == "known")
            {
                int parent = c.GetProperty("parent").GetProperty("pid").GetInt32();
                Assert.Contains(parent, seenPids);
                Assert.NotEqual("proc", c.GetProperty("parent").GetProperty("source").GetString());
                known++;
            }
            if (e.TryGetProperty("pid", out var pid))
            {
                seenPids.Add(pid.GetInt32());
            }
        }
        Assert.True(known > 0, "no parent known from the capture's own events");
        // Without the option: no context at all.
        using var plain = new MemoryStream();
        ReplayCommand.Run([corpus], plain, new StringWriter());
        Assert.DoesNotContain("\"context\"", Encoding.UTF8.GetString(plain.ToArray()));
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Agent.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("no Agent.sln above the tests");
    }
}
