using System.Diagnostics;
using System.Text;

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
            // Output is collected line by line rather than read to the end: a daemon the command
            // starts may keep the pipes open for its whole life, and the run must still end when
            // the command does.
            var output = new StringBuilder();
            p.OutputDataReceived += (_, e) => Append(output, e.Data);
            p.ErrorDataReceived += (_, e) => Append(output, e.Data);
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            p.StandardInput.Close();
            if (!p.WaitForExit(timeout))
            {
                p.Kill(entireProcessTree: true);
                return (-1, $"timed out after {timeout.TotalSeconds:0}s; output so far: {Text(output)}");
            }
            // Lines still in the pipe when the command exited: a moment for them, not for EOF.
            Thread.Sleep(50);
            return (p.ExitCode, Text(output));
        }
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (output)
        {
            output.AppendLine(line);
        }
    }

    private static string Text(StringBuilder output)
    {
        lock (output)
        {
            return output.ToString().Trim();
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
