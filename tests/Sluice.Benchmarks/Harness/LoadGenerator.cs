using System.Globalization;

namespace Sluice.Benchmarks.Harness;

/// <summary>What the generator does: getppid calls, or spawns of /bin/true.</summary>
public enum LoadKind
{
    Getppid,
    Exec,
}

/// <summary>What one generator run did.</summary>
/// <param name="Operations">Syscalls (getppid) or execs made: the events offered to the consumer.</param>
/// <param name="Seconds">How long it ran.</param>
public readonly record struct LoadResult(long Operations, double Seconds)
{
    public double Rate => Seconds > 0 ? Operations / Seconds : 0;
}

/// <summary>
/// The load generator (<c>Native/audit_load.c</c>, compiled with gcc at first use). It starts,
/// prints its pid and waits, so that the rule naming it can be installed first; <see cref="Go"/>
/// starts the loop.
/// </summary>
public sealed class LoadGenerator : IDisposable
{
    private readonly ChildProcess _process;
    private readonly TaskCompletionSource<int> _pid = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<LoadResult> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly double _seconds;

    private LoadGenerator(LoadKind kind, double seconds, int rate)
    {
        _seconds = seconds;
        string exe = Sluice.Testing.NativeTools.Get("audit_load");
        string mode = kind == LoadKind.Exec ? "exec" : "getppid";
        _process = ChildProcess.Start("load generator", exe,
            [mode, seconds.ToString(CultureInfo.InvariantCulture), rate.ToString(CultureInfo.InvariantCulture)],
            OnLine, redirectInput: true);
    }

    /// <summary>The generator's pid: what the rule names.</summary>
    public int Pid { get; private set; }

    /// <summary>Starts the generator and waits until it has told its pid.</summary>
    /// <param name="rate">Operations per second; 0 runs flat out.</param>
    public static LoadGenerator Start(LoadKind kind, double seconds, int rate)
    {
        var generator = new LoadGenerator(kind, seconds, rate);
        try
        {
            if (!generator._pid.Task.Wait(TimeSpan.FromSeconds(30)))
            {
                generator._process.ThrowIfExited("starting");
                throw new TimeoutException("the load generator did not print its pid within 30 s");
            }
            generator.Pid = generator._pid.Task.Result;
            return generator;
        }
        catch
        {
            generator.Dispose();
            throw;
        }
    }

    /// <summary>Starts the loop and waits for it to finish.</summary>
    public LoadResult Go(CancellationToken cancel)
    {
        _process.WriteLine("go");
        var deadline = TimeSpan.FromSeconds(_seconds + 120);
        try
        {
            if (!_done.Task.Wait(deadline, cancel))
            {
                _process.ThrowIfExited("running");
                throw new TimeoutException($"the load generator did not finish within {deadline.TotalSeconds:0} s (a stalled host?)");
            }
        }
        catch (AggregateException e) when (e.InnerException is not null)
        {
            throw e.InnerException;
        }
        _process.WaitForExit(TimeSpan.FromSeconds(10));
        return _done.Task.Result;
    }

    /// <summary>Parses the generator's last line, <c>done OPERATIONS SECONDS FAILURES</c>.</summary>
    public static LoadResult ParseDone(string line)
    {
        var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 3 || parts[0] != "done")
        {
            throw new FormatException($"unexpected load generator output: '{line}'");
        }
        long failures = parts.Length > 3 ? long.Parse(parts[3], CultureInfo.InvariantCulture) : 0;
        if (failures > 0)
        {
            throw new InvalidOperationException($"the load generator failed {failures} operations (could it spawn /bin/true?)");
        }
        return new LoadResult(long.Parse(parts[1], CultureInfo.InvariantCulture), double.Parse(parts[2], CultureInfo.InvariantCulture));
    }

    private void OnLine(string line)
    {
        if (!_pid.Task.IsCompleted && int.TryParse(line, NumberStyles.Integer, CultureInfo.InvariantCulture, out int pid))
        {
            _pid.TrySetResult(pid);
        }
        else if (line.StartsWith("done ", StringComparison.Ordinal))
        {
            try
            {
                _done.TrySetResult(ParseDone(line));
            }
            catch (Exception e) when (e is FormatException or InvalidOperationException)
            {
                _done.TrySetException(e);
            }
        }
    }

    public void Dispose() => _process.Dispose();
}
