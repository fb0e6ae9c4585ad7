using System.Globalization;

namespace Sluice.Testing;

/// <summary>CPU time of a process from <c>/proc/PID/stat</c>, in clock ticks.</summary>
/// <param name="Utime">User time of the process (all its threads, live and exited).</param>
/// <param name="Stime">System time of the process.</param>
/// <param name="ChildUtime">User time of its children that exited and were waited for.</param>
/// <param name="ChildStime">System time of those children.</param>
public readonly record struct ProcCpu(long Utime, long Stime, long ChildUtime, long ChildStime)
{
    public long Own => Utime + Stime;

    public long WithChildren => Utime + Stime + ChildUtime + ChildStime;

    public static ProcCpu operator -(ProcCpu a, ProcCpu b) =>
        new(a.Utime - b.Utime, a.Stime - b.Stime, a.ChildUtime - b.ChildUtime, a.ChildStime - b.ChildStime);
}

/// <summary>Parsers for the few <c>/proc</c> files the tests and benchmarks read.</summary>
public static class ProcStat
{
    private static readonly Lazy<long> s_ticksPerSecond = new(ReadTicksPerSecond);

    /// <summary>Clock ticks per second (USER_HZ, from <c>getconf CLK_TCK</c>; 100 on Linux).</summary>
    public static long TicksPerSecond => s_ticksPerSecond.Value;

    /// <summary>
    /// Parses the text of <c>/proc/PID/stat</c> or <c>/proc/PID/task/TID/stat</c>. The command
    /// name is in parentheses and may itself hold spaces and parentheses, so the fields are
    /// counted from the last ')'.
    /// </summary>
    /// <returns>The name between the parentheses, the parent pid, and the CPU fields (14–17).</returns>
    public static (string Comm, int Ppid, ProcCpu Cpu) Parse(string text)
    {
        int open = text.IndexOf('(');
        int close = text.LastIndexOf(')');
        if (open < 0 || close < open)
        {
            throw new FormatException($"not a /proc stat line (no '(comm)'): {Trim(text)}");
        }
        string comm = text.Substring(open + 1, close - open - 1);
        var fields = text.AsSpan(close + 1).Trim();
        // After ")": field 3 is state; utime is field 14, so the 12th token from here.
        Span<Range> parts = stackalloc Range[16];
        int n = fields.Split(parts, ' ', StringSplitOptions.RemoveEmptyEntries);
        if (n < 15)
        {
            throw new FormatException($"/proc stat line has {n + 2} fields, expected at least 17: {Trim(text)}");
        }
        return (comm, (int)Field(fields, parts, 4), new ProcCpu(Field(fields, parts, 14), Field(fields, parts, 15), Field(fields, parts, 16), Field(fields, parts, 17)));
    }

    private static long Field(ReadOnlySpan<char> fields, ReadOnlySpan<Range> parts, int field) =>
        long.Parse(fields[parts[field - 3]], NumberStyles.Integer, CultureInfo.InvariantCulture);

    /// <summary>
    /// Every process in <c>/proc</c> with its parsed <c>stat</c> line; one that ends while being read is left out.
    /// </summary>
    public static IEnumerable<(int Pid, string Comm, int Ppid, ProcCpu Cpu)> Processes()
    {
        foreach (string dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out int pid)
                && TryRead(Path.Combine(dir, "stat")) is { } text)
            {
                var (comm, ppid, cpu) = Parse(text);
                yield return (pid, comm, ppid, cpu);
            }
        }
    }

    /// <summary>CPU of one process; null when it no longer exists.</summary>
    public static ProcCpu? Cpu(int pid) => TryRead($"/proc/{pid}/stat") is { } text ? Parse(text).Cpu : null;

    /// <summary>
    /// Per-thread CPU (user + system ticks) of a process, by thread id, with the thread's name.
    /// Threads that exited before the call are not listed (their time stays in the process total).
    /// </summary>
    public static Dictionary<int, (string Name, long Ticks)> Threads(int pid)
    {
        var result = new Dictionary<int, (string, long)>();
        string dir = $"/proc/{pid}/task";
        if (!Directory.Exists(dir))
        {
            return result;
        }
        foreach (var taskDir in Directory.EnumerateDirectories(dir))
        {
            if (int.TryParse(Path.GetFileName(taskDir), out int tid) && TryRead(Path.Combine(taskDir, "stat")) is { } text)
            {
                var (comm, _, cpu) = Parse(text);
                result[tid] = (comm, cpu.Own);
            }
        }
        return result;
    }

    /// <summary>The value in kB of a <c>/proc/PID/status</c> line such as <c>VmHWM:   123456 kB</c>.</summary>
    public static long? StatusKb(string statusText, string name)
    {
        foreach (var line in statusText.Split('\n'))
        {
            if (line.StartsWith(name + ":", StringComparison.Ordinal))
            {
                var value = line.AsSpan(name.Length + 1).Trim();
                if (value.EndsWith(" kB", StringComparison.Ordinal))
                {
                    value = value[..^3].TrimEnd();
                }
                return long.Parse(value, NumberStyles.Integer, CultureInfo.InvariantCulture);
            }
        }
        return null;
    }

    /// <summary>Peak resident set size (VmHWM) in kB; null when the process is gone.</summary>
    public static long? PeakRssKb(int pid) => TryRead($"/proc/{pid}/status") is { } text ? StatusKb(text, "VmHWM") : null;

    /// <summary>Live children of <paramref name="pid"/> (from each thread's <c>children</c> file).</summary>
    public static IReadOnlyList<int> Children(int pid)
    {
        var result = new List<int>();
        string dir = $"/proc/{pid}/task";
        if (!Directory.Exists(dir))
        {
            return result;
        }
        foreach (var taskDir in Directory.EnumerateDirectories(dir))
        {
            if (TryRead(Path.Combine(taskDir, "children")) is { } text)
            {
                foreach (var token in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                {
                    result.Add(int.Parse(token, CultureInfo.InvariantCulture));
                }
            }
        }
        return result;
    }

    public static double TicksToMicroseconds(long ticks) => ticks * 1_000_000.0 / TicksPerSecond;

    private static string? TryRead(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string Trim(string text) => text.Length > 120 ? text[..120] + "..." : text.TrimEnd();

    private static long ReadTicksPerSecond()
    {
        try
        {
            var (code, output) = NativeTools.Run("getconf", "CLK_TCK");
            if (code == 0 && long.TryParse(output.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out long hz) && hz > 0)
            {
                return hz;
            }
        }
        catch (System.ComponentModel.Win32Exception)
        {
        }
        return 100;
    }
}
