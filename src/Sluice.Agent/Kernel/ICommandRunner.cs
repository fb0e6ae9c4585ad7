using System.Diagnostics;
using System.Text;

namespace Sluice.Agent.Kernel;

/// <summary>Runs host commands (service, systemctl, auditctl). An interface so tests can inject failures.</summary>
internal interface ICommandRunner
{
    /// <summary>Runs <paramref name="file"/>; returns its exit code and combined output, or -1 if it cannot start.</summary>
    (int ExitCode, string Output) Run(string file, IReadOnlyList<string> args, TimeSpan timeout);

    /// <summary>True if <paramref name="file"/> is on PATH (or an existing absolute path).</summary>
    bool Exists(string file);
}

/// <summary>Runs real processes.</summary>
internal sealed class ProcessCommandRunner : ICommandRunner
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
            // the command does. After the exit, the lines still in the pipes are read until end of
            // file, or for a moment if a daemon holds them open.
            var output = new StringBuilder();
            // Not disposable: a daemon may close the pipes long after this returns.
            var outDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var errDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            p.OutputDataReceived += (_, e) => Append(output, e.Data, outDone);
            p.ErrorDataReceived += (_, e) => Append(output, e.Data, errDone);
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            p.StandardInput.Close();
            if (!p.WaitForExit(timeout))
            {
                p.Kill(entireProcessTree: true);
                return (-1, $"timed out after {timeout.TotalSeconds:0}s; output so far: {Text(output)}");
            }
            Task.WaitAll([outDone.Task, errDone.Task], s_drainAfterExit);
            return (p.ExitCode, Text(output));
        }
    }

    private static readonly TimeSpan s_drainAfterExit = TimeSpan.FromSeconds(2);

    private static void Append(StringBuilder output, string? line, TaskCompletionSource done)
    {
        if (line is null)
        {
            done.TrySetResult(); // end of file
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
