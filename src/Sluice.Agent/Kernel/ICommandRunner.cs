using System.Diagnostics;

namespace Sluice.Agent.Kernel;

/// <summary>Runs host commands (service, systemctl, auditctl). An interface so tests can inject failures.</summary>
public interface ICommandRunner
{
    /// <summary>Runs <paramref name="file"/>; returns its exit code and combined output, or -1 if it cannot start.</summary>
    (int ExitCode, string Output) Run(string file, IReadOnlyList<string> args, TimeSpan timeout);

    /// <summary>True if <paramref name="file"/> is on PATH (or an existing absolute path).</summary>
    bool Exists(string file);
}

/// <summary>Runs real processes.</summary>
public sealed class ProcessCommandRunner : ICommandRunner
{
    public (int ExitCode, string Output) Run(string file, IReadOnlyList<string> args, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        Process? p;
        try
        {
            p = Process.Start(psi);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, e.Message);
        }
        if (p is null)
        {
            return (-1, "did not start");
        }
        using (p)
        {
            p.StandardInput.Close();
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(timeout))
            {
                p.Kill(entireProcessTree: true);
                return (-1, $"timed out after {timeout.TotalSeconds:0}s");
            }
            p.WaitForExit();
            return (p.ExitCode, (stdout.Result + stderr.Result).Trim());
        }
    }

    public bool Exists(string file)
    {
        if (Path.IsPathRooted(file))
        {
            return File.Exists(file);
        }
        var path = Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin";
        return path.Split(':').Concat(["/usr/sbin", "/sbin"]).Any(d => File.Exists(Path.Combine(d, file)));
    }
}
