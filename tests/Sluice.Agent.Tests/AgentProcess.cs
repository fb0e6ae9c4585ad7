using System.Diagnostics;

namespace Sluice.Agent.Tests;

/// <summary>
/// Runs the shipped <c>sluice-agent</c> as a separate process, as a user would: the executable
/// deploy/publish.sh makes (NativeAOT), published once per test run (<see cref="Deploy.DeployScripts.PublishDir"/>).
/// </summary>
internal static class AgentProcess
{
    /// <summary>The published native executable; the first use publishes (a few minutes), later ones reuse it.</summary>
    public static string ExePath => Path.Combine(Deploy.DeployScripts.PublishDir, "agent", "sluice-agent");

    public static (int ExitCode, string Stdout, string Stderr) Run(string args, string? runAsUser = null, TimeSpan? timeout = null)
    {
        var psi = runAsUser is null
            ? new ProcessStartInfo(ExePath, args)
            : new ProcessStartInfo("setpriv", $"--reuid={runAsUser} --regid={runAsUser} --clear-groups --inh-caps=-all {ExePath} {args}");
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.Environment["DOTNET_CLI_HOME"] = Path.GetTempPath();
        psi.Environment["DOTNET_NOLOGO"] = "1";
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEndAsync();
        if (!p.WaitForExit(timeout ?? TimeSpan.FromSeconds(60)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"sluice-agent {args} did not finish");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    public static (int ExitCode, string Output) RunTool(string file, string args) => Sluice.Testing.NativeTools.Run(file, args);
}
