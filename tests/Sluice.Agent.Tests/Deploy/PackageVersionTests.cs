using System.Xml.Linq;
using Sluice.Agent.Cli;
using Sluice.Agent.Monitoring;
using Sluice.Protocol;

namespace Sluice.Agent.Tests.Deploy;

/// <summary>
/// The version is set once, <c>&lt;Version&gt;</c> in Directory.Build.props, and reported the same
/// by <c>--version</c> of both published programs, the heartbeat and <c>sluice-agent status</c>
/// (deploy/build-deb.sh names the packages after it; <see cref="PackageTests"/> checks the installed ones).
/// </summary>
public sealed class PackageVersionTests
{
    /// <summary><c>&lt;Version&gt;</c> of Directory.Build.props, read as a file, not through the build.</summary>
    internal static string PropsVersion() =>
        XDocument.Load(Path.Combine(DeployScripts.RepoRoot, "Directory.Build.props")).Descendants("Version").Single().Value.Trim();

    [Fact]
    public void ProductVersion_IsDirectoryBuildPropsVersion_WithoutBuildMetadata()
    {
        string props = PropsVersion();

        Assert.Matches(@"^\d+\.\d+\.\d+", props);
        Assert.Equal(props, ProductVersion.Current);
        Assert.Equal($"sluice-agent {props}", ProductVersion.Line("sluice-agent"));
    }

    [Fact]
    public void Heartbeat_CarriesTheVersion()
    {
        var values = HeartbeatJob.Values(new MetricsSnapshot(), []);

        Assert.Equal(PropsVersion(), values.Version);
    }

    [Fact]
    public void Status_NamesTheRunningAgentsVersion()
    {
        using var metrics = new AgentMetrics();
        var snapshot = metrics.Snapshot();
        var text = new StringWriter();

        StatusCommand.WriteAgent(text, snapshot);

        Assert.Equal(PropsVersion(), snapshot.Version);
        Assert.StartsWith($"agent {PropsVersion()} running since ", text.ToString());
        // The JSON form (`status --json`) carries it too, from the same snapshot.
        Assert.Contains($"\"version\":\"{PropsVersion()}\"", System.Text.Json.JsonSerializer.Serialize(snapshot, Sluice.Agent.Status.StatusJson.Default.MetricsSnapshot));
    }

    [Fact]
    public void PublishedAgent_Version_PrintsNameAndVersion()
    {
        var (code, stdout, stderr) = AgentProcess.Run("--version");

        Assert.True(code == 0, stderr);
        Assert.Equal($"sluice-agent {PropsVersion()}\n", stdout);
    }

    [Fact]
    public void PublishedCollector_Version_PrintsNameAndVersion()
    {
        var (code, output) = DeployScripts.Run(Path.Combine(DeployScripts.PublishDir, "collector", "sluice-collector"), ["--version"], TimeSpan.FromMinutes(1));

        Assert.True(code == 0, output);
        Assert.Equal($"sluice-collector {PropsVersion()}\n", output);
    }
}
