using System.Diagnostics;
using System.Text;

namespace Sluice.Benchmarks.Harness;

/// <summary>
/// A process the harness started: its output is kept (the last lines, for error messages), and it
/// gets SIGTERM if the harness dies (<c>setpriv --pdeathsig</c>), so that an auditd or agent never
/// outlives a killed harness. Start it from the main thread: the parent-death signal follows the
/// thread that forked.
/// </summary>
public sealed class ChildProcess : IDisposable
{
    private const int KeptLines = 200;

    private readonly Process _process;
    private readonly Queue<string> _lines = new();
    private readonly Action<string>? _onLine;

    private ChildProcess(string name, Process process, Action<string>? onLine)
    {
        Name = name;
        _process = process;
        _onLine = onLine;
        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public string Name { get; }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>The last lines of standard output and error.</summary>
    public string Output
    {
        get
        {
            lock (_lines)
            {
                return string.Join('\n', _lines);
            }
        }
    }

    /// <summary>Starts <paramref name="file"/> with <paramref name="args"/>; <paramref name="onLine"/> sees every output line.</summary>
    public static ChildProcess Start(string name, string file, IEnumerable<string> args, Action<string>? onLine = null,
        IDictionary<string, string>? environment = null, bool redirectInput = false)
    {
        var psi = new ProcessStartInfo("setpriv")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = redirectInput,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("--pdeathsig");
        psi.ArgumentList.Add("TERM");
        psi.ArgumentList.Add("--");
        psi.ArgumentList.Add(file);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new InvalidOperationException($"{name}: could not start {file}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"{name}: could not start setpriv (util-linux) to run {file}: {e.Message}", e);
        }
        return new ChildProcess(name, process, onLine);
    }

    /// <summary>This same program in another of its modes (<paramref name="args"/> starts with the mode): as an apphost, or as <c>dotnet Sluice.Benchmarks.dll</c>.</summary>
    public static ChildProcess StartSelf(string name, IEnumerable<string> args, Action<string>? onLine = null, bool redirectInput = false)
    {
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("cannot tell this program's path");
        var all = new List<string>();
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            all.Add(typeof(ChildProcess).Assembly.Location);
        }
        all.AddRange(args);
        return Start(name, self, all, onLine, redirectInput: redirectInput);
    }

    /// <summary>Writes one line to the process's standard input.</summary>
    public void WriteLine(string line)
    {
        _process.StandardInput.WriteLine(line);
        _process.StandardInput.Flush();
    }

    public void CloseInput() => _process.StandardInput.Close();

    public bool WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            return false;
        }
        _process.WaitForExit(); // flushes the asynchronous output readers
        return true;
    }

    /// <summary>SIGTERM, then SIGKILL after <paramref name="grace"/>. Returns the exit code, or null if it had to be killed.</summary>
    public int? Stop(TimeSpan grace)
    {
        if (!_process.HasExited)
        {
            Tmds.Linux.LibC.kill(_process.Id, Tmds.Linux.LibC.SIGTERM);
            if (!WaitForExit(grace))
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit();
                return null;
            }
        }
        _process.WaitForExit();
        return _process.ExitCode;
    }

    /// <summary>Throws with the process's last output if it has exited.</summary>
    public void ThrowIfExited(string doing)
    {
        if (_process.HasExited)
        {
            _process.WaitForExit();
            throw new InvalidOperationException($"{Name} exited with code {_process.ExitCode} while {doing}; its last output:\n{Output}");
        }
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_lines)
        {
            _lines.Enqueue(line);
            if (_lines.Count > KeptLines)
            {
                _lines.Dequeue();
            }
        }
        _onLine?.Invoke(line);
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            Stop(TimeSpan.FromSeconds(10));
        }
        _process.Dispose();
    }
}
