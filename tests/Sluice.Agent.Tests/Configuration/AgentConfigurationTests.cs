using Microsoft.Extensions.Configuration;
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

    [Theory]
    [InlineData("{}", "JsonLines")]
    [InlineData("{ \"Shipping\": { \"CollectorUrl\": \"\" } }", "JsonLines")]
    [InlineData("{ \"Shipping\": { \"CollectorUrl\": \"https://collector.example:7443\" } }", "Collector")]
    [InlineData("{ \"Sink\": { \"Type\": \"JsonLines\" }, \"Shipping\": { \"CollectorUrl\": \"https://collector.example:7443\" } }", "JsonLines")]
    [InlineData("{ \"Sink\": { \"Type\": \"stdout\" } }", "Stdout")]
    [InlineData("{ \"Sink\": { \"Type\": \"Collector\" } }", "Collector")]
    public void Load_SinkType_FollowsTheCollectorUrlUnlessSet(string json, string expectedName)
    {
        var expected = Enum.Parse<SinkType>(expectedName);
        var configuration = AgentConfiguration.Build(Write(json));

        Assert.Equal(expected, SinkOptions.TypeFrom(configuration));
        Assert.Equal(expected, AgentConfiguration.Load(Path.Combine(_dir, "agent.json")).Sink.Type);
    }

    [Fact]
    public void Load_SinkTypeUnknown_NamesTheKey()
    {
        var e = Assert.Throws<ConfigurationException>(() => AgentConfiguration.Load(Write("{ \"Sink\": { \"Type\": \"Kafka\" } }")));

        Assert.Contains("Sink:Type", e.Message);
        Assert.Null(SinkOptions.TypeFrom(AgentConfiguration.Build(Path.Combine(_dir, "agent.json"))));
    }

    [Fact]
    public void ShippedConfig_DeliverySectionsGiveEveryDefault()
    {
        // config/agent.json documents every key at its default: the delivery sections must not drift.
        var configuration = AgentConfiguration.Build(Path.Combine(AppContext.BaseDirectory, "config", "agent.json"));
        Assert.Equal(SinkType.JsonLines, SinkOptions.TypeFrom(configuration));
        AssertDefaults(new Sluice.Agent.Shipping.ShipperOptions(), Sluice.Agent.Shipping.ShipperOptions.Section, ["CaFile", "Token", "TokenFile"]);
        AssertDefaults(new Sluice.Agent.Spool.SpoolOptions(), Sluice.Agent.Spool.SpoolOptions.Section, []);
        AssertDefaults(new Sluice.Agent.Shipping.BatcherOptions(), Sluice.Agent.Shipping.BatcherOptions.Section, []);

        void AssertDefaults<T>(T defaults, string section, string[] commentedOut) where T : new()
        {
            var shipped = new T();
            ConfigurationBinder.Bind(configuration.GetSection(section), shipped, o => o.ErrorOnUnknownConfiguration = true);
            foreach (var property in typeof(T).GetProperties())
            {
                bool listed = configuration.GetSection(section).GetSection(property.Name).Exists();
                Assert.True(listed != commentedOut.Contains(property.Name), $"{section}:{property.Name} listed: {listed}");
                Assert.Equal(property.GetValue(defaults), property.GetValue(shipped));
            }
        }
    }

    [Fact]
    public void Load_MetricsListen_HostPortAccepted_EmptyIsOff_OtherwiseRefusedNamingTheKey()
    {
        Assert.Equal("", AgentConfiguration.Load(Write("{ }")).Status.MetricsListen);
        Assert.Equal("", AgentConfiguration.Load(Write("{ \"Status\": { \"MetricsListen\": \"\" } }")).Status.MetricsListen);
        Assert.Equal("127.0.0.1:9464", AgentConfiguration.Load(Write("{ \"Status\": { \"MetricsListen\": \"127.0.0.1:9464\" } }")).Status.MetricsListen);

        var e = Assert.Throws<ConfigurationException>(() => AgentConfiguration.Load(Write("{ \"Status\": { \"MetricsListen\": \"9464\" } }")));
        Assert.Contains("Status:MetricsListen '9464': expected HOST:PORT", e.Message);
    }

    [Fact]
    public void Load_NamedFileMissing_SaysSo()
    {
        var e = Assert.Throws<ConfigurationException>(() => AgentConfiguration.Load(Path.Combine(_dir, "nope.json")));
        Assert.Contains("not found", e.Message);
    }
}
