using System.Diagnostics;
using System.Text;

namespace Sluice.Agent.Tests.Deploy;

/// <summary>
/// The scripts under deploy/, run as a user runs them, and one self-contained publish of both
/// programs (deploy/publish.sh) made once per test run and shared by the tests that need it:
/// the deploy tests install it, and every test that starts sluice-agent as a process runs its
/// NativeAOT executable (<see cref="AgentProcess"/>), the build that ships.
/// </summary>
internal static class DeployScripts
{
    private static readonly Lazy<string> s_publish = new(Publish, LazyThreadSafetyMode.ExecutionAndPublication);

    public static string RepoRoot { get; } = FindRoot();

    public static string Script(string name) => Path.Combine(RepoRoot, "deploy", name);

    /// <summary>DIR with DIR/agent/sluice-agent and DIR/collector/sluice-collector, built by deploy/publish.sh.</summary>
    public static string PublishDir => s_publish.Value;

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Agent.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException($"no Agent.sln above {AppContext.BaseDirectory}");
    }

    private static string Publish()
    {
        // A developer's shortcut: TEST_SLUICE_PUBLISH names an existing publish of this tree
        // (deploy/publish.sh --out DIR) and saves the minutes of publishing again. CI leaves it unset.
        if (Environment.GetEnvironmentVariable("TEST_SLUICE_PUBLISH") is { Length: > 0 } existing)
        {
            if (!File.Exists(Path.Combine(existing, "agent", "sluice-agent")) || !File.Exists(Path.Combine(existing, "collector", "sluice-collector")))
            {
                throw new InvalidOperationException($"TEST_SLUICE_PUBLISH={existing} is not a publish of deploy/publish.sh (no agent/sluice-agent and collector/sluice-collector)");
            }
            return existing;
        }
        string dir = Directory.CreateTempSubdirectory("sluice-publish-").FullName;
        // Temp subdirectories are 0700; tests run the agent as an unprivileged user too (setpriv).
        File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
            }
        };
        var (code, output) = Run("bash", [Script("publish.sh"), "--out", dir], TimeSpan.FromMinutes(15));
        if (code != 0)
        {
            throw new InvalidOperationException($"deploy/publish.sh failed with {code}:\n{output}");
        }
        return dir;
    }

    /// <summary>Runs a program to its end; stdout and stderr interleaved as they came.</summary>
    public static (int ExitCode, string Output) Run(string file, IEnumerable<string> args, TimeSpan timeout, IDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (k, v) in env ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }
        var output = new StringBuilder();
        using var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (output) { output.AppendLine(e.Data); } } };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (output) { output.AppendLine(e.Data); } } };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            throw new TimeoutException($"{file} {string.Join(' ', psi.ArgumentList)} did not finish in {timeout}:\n{output}");
        }
        p.WaitForExit();
        lock (output)
        {
            return (p.ExitCode, output.ToString());
        }
    }
}
