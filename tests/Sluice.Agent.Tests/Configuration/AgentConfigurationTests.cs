using Sluice.Agent.Configuration;

namespace Sluice.Agent.Tests.Configuration;

public sealed class AgentConfigurationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string json)
    {
        string path = Path.Combine(_dir, "agent.json");
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void Load_ShippedConfigWithComments_GivesTheDefaults()
    {
        string shipped = Path.Combine(AppContext.BaseDirectory, "config", "agent.json");
        var o = AgentConfiguration.Load(shipped);
        var d = new AgentOptions();
        Assert.Equal(d.Kernel.BacklogLimit, o.Kernel.BacklogLimit);
        Assert.Equal(0u, o.Kernel.BacklogWaitTime);
        Assert.Equal(d.Drain.IntervalMs, o.Drain.IntervalMs);
        Assert.Equal(["/etc/sluice/audit.rules"], o.Rules.EffectiveFiles);
        Assert.Empty(o.Filters);
    }

    [Theory]
    [InlineData("{ \"Drian\": {} }", "'Drian'")]
    [InlineData("{ \"Drain\": { \"IntervalMs\": \"often\" } }", "Drain:IntervalMs")]
    [InlineData("{ \"Drain\": { \"IntervalMs\": 0 } }", "IntervalMs")]
    [InlineData("{ \"Kernel\": { \"BacklogLimit\": 1000, \"MaxBacklogLimit\": 10 } }", "Kernel:BacklogLimit (1000) must not exceed Kernel:MaxBacklogLimit (10)")]
    [InlineData("{ \"StateDirectory\": \"relative/dir\" }", "StateDirectory must be an absolute path")]
    [InlineData("{ \"Filters\": [ { \"Syscalls\": [ \"exceve\" ] } ] }", "Filters:0:Syscalls: unknown syscall 'exceve'")]
    [InlineData("{ \"Filters\": [ { \"RecordTypes\": [ \"SYSCAL\" ] } ] }", "unknown record type 'SYSCAL'")]
    [InlineData("{ \"Mode\": \"Broadcast\" }", "Mode")]
    [InlineData("{ \"Interpretation\": { \"ResolveNames\": true, \"AccountsRoot\": \"etc\" } }", "Interpretation:AccountsRoot must be an absolute directory, not 'etc'")]
    [InlineData("{ \"Interpretation\": { \"ResolveNames\": \"maybe\" } }", "Interpretation:ResolveNames")]
    public void Load_BadValue_ErrorNamesKeyAndReason(string json, string expected)
    {
        var e = Assert.Throws<ConfigurationException>(() => AgentConfiguration.Load(Write(json)));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Load_EnvironmentVariable_OverridesFile()
    {
        Environment.SetEnvironmentVariable("SLUICE_Drain__IntervalMs", "77");
        try
        {
            Assert.Equal(77, AgentConfiguration.Load(Write("{ \"Drain\": { \"IntervalMs\": 500 } }")).Drain.IntervalMs);
        }
        finally
        {
            Environment.SetEnvironmentVariable("SLUICE_Drain__IntervalMs", null);
        }
    }

    [Fact]
    public void Load_Interpretation_NamesOffByDefaultAndBound()
    {
        Assert.False(AgentConfiguration.Load(Write("{}")).Interpretation.ResolveNames);
        Assert.False(AgentConfiguration.Load(Path.Combine(AppContext.BaseDirectory, "config", "agent.json")).Interpretation.ResolveNames);

        var o = AgentConfiguration.Load(Write("{ \"Interpretation\": { \"ResolveNames\": true, \"AccountsRoot\": \"/srv/host-a\" } }"));

        Assert.True(o.Interpretation.ResolveNames);
        Assert.Equal("/srv/host-a", o.Interpretation.AccountsRoot);
    }

    [Fact]
    public void Load_NamedFileMissing_SaysSo()
    {
        var e = Assert.Throws<ConfigurationException>(() => AgentConfiguration.Load(Path.Combine(_dir, "nope.json")));
        Assert.Contains("not found", e.Message);
    }
}
