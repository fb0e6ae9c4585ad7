using Microsoft.Extensions.Logging.Abstractions;
using Sluice.Agent.Configuration;
using Sluice.Agent.Monitoring;
using Sluice.Agent.Policy;
using Sluice.Agent.Tests.Spool;
using Sluice.Protocol.Policies;

namespace Sluice.Agent.Tests.Policy;

/// <summary>The last good policy on disk: written atomically and private, read back only when it is whole and matches its hash.</summary>
public sealed class LastGoodPolicyTests : IDisposable
{
    private const string Rules = "-a always,exit -F arch=b64 -S execve -F key=exec\n";
    private const string Filters = """[ { "Name": "drop-cron", "Comm": [ "cron" ] } ]""";

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static LastGoodPolicy Sample() => new()
    {
        Hash = PolicyDigest.Compute(Rules, Filters),
        Group = "web",
        Rules = Rules,
        Filters = Filters,
        SetUnixMs = 1_700_000_000_000,
        AppliedUtc = new DateTimeOffset(2026, 12, 5, 9, 0, 0, TimeSpan.Zero),
    };

    private PolicyState State(bool enabled = true, AgentMetrics? metrics = null) =>
        new(new AgentOptions { StateDirectory = _dir.Path, Policy = new PolicyOptions { Enabled = enabled } }, NullLogger<PolicyState>.Instance, metrics);

    [Fact]
    public void SaveThenLoad_RoundTrips_FileIs0600()
    {
        Sample().Save(_dir.Path, NullLogger.Instance);

        var loaded = LastGoodPolicy.Load(_dir.Path)!;
        Assert.Equivalent(Sample(), loaded);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(LastGoodPolicy.PathIn(_dir.Path)));
        Assert.False(File.Exists(LastGoodPolicy.PathIn(_dir.Path) + ".tmp"));
    }

    [Fact]
    public void Load_NoFile_Null() => Assert.Null(LastGoodPolicy.Load(_dir.Path));

    [Fact]
    public void Load_NotJson_RefusedNamingTheFile()
    {
        File.WriteAllText(LastGoodPolicy.PathIn(_dir.Path), "{ \"hash\": \"abc\", \"rules\": ");

        var e = Assert.Throws<InvalidDataException>(() => LastGoodPolicy.Load(_dir.Path));

        Assert.Contains(LastGoodPolicy.PathIn(_dir.Path), e.Message);
    }

    [Fact]
    public void Load_RulesChangedOnDisk_RefusedAsNotMatchingItsHash()
    {
        Sample().Save(_dir.Path, NullLogger.Instance);
        string path = LastGoodPolicy.PathIn(_dir.Path);
        File.WriteAllText(path, File.ReadAllText(path).Replace("key=exec", "key=exex"));

        var e = Assert.Throws<InvalidDataException>(() => LastGoodPolicy.Load(_dir.Path));

        Assert.Contains("do not match its hash", e.Message);
    }

    [Fact]
    public void Startup_GoodFile_IsThePolicyInForceAsLastGood()
    {
        Sample().Save(_dir.Path, NullLogger.Instance);
        var metrics = new AgentMetrics();
        var state = State(metrics: metrics);

        var startup = state.Startup;

        Assert.NotNull(startup);
        Assert.Equal(Sample().Hash, startup.Hash);
        Assert.Equal("drop-cron", Assert.Single(startup.Filters).Name);
        Assert.Single(startup.Rules.Rules);
        Assert.Equal(PolicySources.LastGood, state.Status.Source);
        Assert.Equal(Sample().Hash, metrics.Snapshot().Policy.Hash);
        Assert.Equal("web", metrics.Snapshot().Policy.Group);
    }

    [Fact]
    public void Startup_CorruptFile_LocalFilesAndStatusSaysWhy()
    {
        File.WriteAllText(LastGoodPolicy.PathIn(_dir.Path), "not json at all");
        var state = State();

        Assert.Null(state.Startup);
        Assert.Equal(PolicySources.Local, state.Status.Source);
        Assert.Equal("", state.Status.Hash);
        Assert.Contains("unusable", state.Status.Note);
        Assert.Contains(LastGoodPolicy.PathIn(_dir.Path), state.Status.Note);
    }

    [Fact]
    public void Startup_PolicyDisabled_FileIgnored()
    {
        Sample().Save(_dir.Path, NullLogger.Instance);

        var state = State(enabled: false);

        Assert.Null(state.Startup);
        Assert.Equal(PolicySources.Local, state.Status.Source);
    }

    [Fact]
    public void Startup_NoFile_LocalFilesNoNote()
    {
        var state = State();

        Assert.Null(state.Startup);
        Assert.Equal(new PolicyStatus(), state.Status);
    }
}
