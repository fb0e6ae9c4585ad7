using System.Runtime.InteropServices;

namespace Sluice.Benchmarks.Harness;

/// <summary>
/// The build the comparison measures by default: the agent and collector as
/// <c>deploy/publish.sh</c> publishes them, which is what gets installed. Published again on every
/// comparison (the build is incremental, so an unchanged tree costs little), into
/// <c>artifacts/compare-publish</c> in the repository, so the figures are never those of a stale build.
/// </summary>
public static class AgentPublish
{
    /// <summary>The repository this program was built from (the directory holding Agent.sln), or null.</summary>
    public static string? RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Agent.sln")))
            {
                return dir.FullName;
            }
        }
        return null;
    }

    public static string DefaultDirectory() =>
        Path.Combine(RepositoryRoot() ?? Path.GetTempPath(), "artifacts", "compare-publish");

    public static string AgentIn(string directory) => Path.Combine(directory, "agent", "sluice-agent");

    public static string CollectorIn(string directory) => Path.Combine(directory, "collector", "sluice-collector");

    /// <summary>How an agent executable was built: NativeAOT (one native file) or the JIT runtime (sluice-agent.dll beside it).</summary>
    public static string Kind(string agentPath) =>
        File.Exists(Path.Combine(Path.GetDirectoryName(agentPath) ?? ".", "sluice-agent.dll")) ? "JIT (IL + runtime)" : "NativeAOT";

    /// <summary>
    /// Runs deploy/publish.sh into <paramref name="directory"/>, its output to <paramref name="log"/>.
    /// Throws <see cref="InvalidOperationException"/> naming what failed.
    /// </summary>
    public static void Publish(string directory, TextWriter log, CancellationToken cancel)
    {
        string root = RepositoryRoot() ?? throw new InvalidOperationException("cannot find the repository (Agent.sln) above this program to run deploy/publish.sh: pass --agent and --collector");
        string script = Path.Combine(root, "deploy", "publish.sh");
        if (!File.Exists(script))
        {
            throw new InvalidOperationException($"{script} not found: pass --agent and --collector");
        }
        log.WriteLine($"publishing the agent and collector with deploy/publish.sh into {directory} (what the comparison measures; --agent PATH --collector PATH to measure other builds)...");
        using var publish = ChildProcess.Start("deploy/publish.sh", "bash", [script, "--out", directory, "--dotnet", DotnetHost()], line => log.WriteLine("  " + line));
        while (!publish.WaitForExit(TimeSpan.FromMilliseconds(250)))
        {
            if (cancel.IsCancellationRequested)
            {
                publish.Stop(TimeSpan.FromSeconds(10));
                cancel.ThrowIfCancellationRequested();
            }
        }
        if (publish.ExitCode != 0)
        {
            throw new InvalidOperationException($"deploy/publish.sh failed with exit code {publish.ExitCode}; its last output:\n{publish.Output}");
        }
    }

    /// <summary>The dotnet host this program runs on (a root shell's PATH may not have it).</summary>
    public static string DotnetHost()
    {
        if (Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            return self;
        }
        // The runtime lives in DOTNET_ROOT/shared/Microsoft.NETCore.App/VERSION/.
        var runtime = new DirectoryInfo(RuntimeEnvironment.GetRuntimeDirectory());
        string? candidate = runtime.Parent?.Parent?.Parent is { } dotnetRoot ? Path.Combine(dotnetRoot.FullName, "dotnet") : null;
        return candidate is not null && File.Exists(candidate) ? candidate : "dotnet";
    }
}
