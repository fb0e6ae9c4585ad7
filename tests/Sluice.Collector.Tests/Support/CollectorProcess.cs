using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Sluice.Collector.Tests.Support;

/// <summary>
/// The real <c>sluice-collector serve</c> in a process of its own (with its own runtime settings:
/// server GC, no idle spinning), so that its memory can be read from /proc and its command line
/// from /proc/PID/cmdline. Killed at dispose.
/// </summary>
public sealed class CollectorProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly TaskCompletionSource<Uri> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private CollectorProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => Line(e.Data);
        process.ErrorDataReceived += (_, e) => Line(e.Data);
        process.Exited += (_, _) => _listening.TrySetException(new InvalidOperationException("sluice-collector exited:\n" + Output));
        process.EnableRaisingEvents = true;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public string Output { get { lock (_output) { return _output.ToString(); } } }

    /// <summary>Starts <c>sluice-collector ARGS</c> (the built one beside the tests) with extra environment variables.</summary>
    public static CollectorProcess Start(IEnumerable<string> args, IDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "sluice-collector.dll"));
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }
        return new CollectorProcess(Process.Start(psi)!);
    }

    /// <summary>The address from its "listening on URL" line; throws with its output if it exits first.</summary>
    public async Task<Uri> ListeningAsync(TimeSpan? timeout = null) =>
        await _listening.Task.WaitAsync(timeout ?? TimeSpan.FromMinutes(2));

    /// <summary>Waits for it to exit by itself (a refused start); its exit code.</summary>
    public async Task<int> ExitAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(2));
        await _process.WaitForExitAsync(cts.Token);
        _process.WaitForExit(); // drains the output events
        return _process.ExitCode;
    }

    /// <summary>A line of /proc/PID/status in kB, e.g. VmHWM (peak resident set) or VmRSS.</summary>
    public long StatusKiB(string key) =>
        Sluice.Testing.ProcStat.StatusKb(File.ReadAllText($"/proc/{Pid}/status"), key)
            ?? throw new InvalidOperationException($"no {key} in /proc/{Pid}/status");

    /// <summary>Its command line as the kernel shows it to every local user.</summary>
    public string CommandLine => File.ReadAllText($"/proc/{Pid}/cmdline").Replace('\0', ' ');

    private void Line(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_output)
        {
            _output.AppendLine(line);
        }
        // "sluice-collector: listening on URL (h2c and HTTP/1.1), ..."
        const string marker = "sluice-collector: listening on ";
        if (line.StartsWith(marker, StringComparison.Ordinal))
        {
            _listening.TrySetResult(new Uri(line[marker.Length..].Split(' ')[0]));
        }
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit();
            }
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
    }
}
