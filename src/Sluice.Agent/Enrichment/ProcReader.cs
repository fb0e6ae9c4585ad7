using System.Buffers.Text;

namespace Sluice.Agent.Enrichment;

/// <summary>What <c>/proc/PID</c> said about a process when it was read.</summary>
internal sealed record ProcInfo(int Pid, int Ppid, long StartTicks, long StartUnixMs, byte[] Exe, byte[][] Argv, bool ArgvTruncated,
    byte[] Cwd, uint? Uid, uint? Auid, byte[]? Cgroup, CgroupInfo? CgroupInfo);

/// <summary>Where the table reads processes it has not seen in an event: <c>/proc</c>, or nothing (a replay).</summary>
internal interface IProcSource
{
    /// <summary>The process now at <paramref name="pid"/>, or null when there is none (or it cannot be read).</summary>
    ProcInfo? Read(int pid);

    /// <summary>The pids of the processes there now.</summary>
    IEnumerable<int> Pids();
}

/// <summary>
/// Reads <c>/proc/PID/{stat,exe,cmdline,cwd,status,loginuid,cgroup}</c> (proc(5)). Every file is read
/// with a bound; a process that goes away half way gives what was read, or null when its stat is gone.
/// </summary>
internal sealed class ProcReader(string root, int maxArgs, int maxArgBytes) : IProcSource
{
    /// <summary>
    /// USER_HZ: /proc/PID/stat times are in clock ticks, sysconf(_SC_CLK_TCK) (proc(5)), which Linux
    /// fixes at 100 for user space on x86 and arm64 whatever the kernel's HZ.
    /// </summary>
    public const int ClockTicksPerSecond = 100;

    private long _bootUnixMs = -1;

    public static ProcReader Host(int maxArgs, int maxArgBytes) => new("/proc", maxArgs, maxArgBytes);

    /// <summary>Boot time, Unix ms: the <c>btime</c> line of /proc/stat (whole seconds); 0 if unreadable.</summary>
    public long BootUnixMs
    {
        get
        {
            if (_bootUnixMs < 0)
            {
                _bootUnixMs = 0;
                byte[]? stat = ReadBounded(Path.Combine(root, "stat"), 64 * 1024);
                if (stat is not null)
                {
                    int at = stat.AsSpan().IndexOf("\nbtime "u8);
                    if (at >= 0)
                    {
                        var rest = stat.AsSpan(at + 7);
                        int end = rest.IndexOf((byte)'\n');
                        if (Utf8Parser.TryParse(end < 0 ? rest : rest[..end], out long seconds, out _))
                        {
                            _bootUnixMs = seconds * 1000;
                        }
                    }
                }
            }
            return _bootUnixMs;
        }
    }

    public IEnumerable<int> Pids()
    {
        IEnumerable<string> dirs;
        try
        {
            dirs = Directory.EnumerateDirectories(root);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            yield break;
        }
        foreach (string dir in dirs)
        {
            if (int.TryParse(Path.GetFileName(dir), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int pid) && pid > 0)
            {
                yield return pid;
            }
        }
    }

    public ProcInfo? Read(int pid)
    {
        string dir = Path.Combine(root, pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        byte[]? stat = ReadBounded(Path.Combine(dir, "stat"), 4096);
        if (stat is null || !TryParseStat(stat, out int ppid, out long startTicks, out byte state))
        {
            return null;
        }
        // A zombie (Z) or dead (X) task has left its cgroups: its cgroup file shows the root whatever it
        // was in (the kernel moves an exiting task to the root css_set), so it is not read.
        bool exited = state is (byte)'Z' or (byte)'X';
        long boot = BootUnixMs;
        long startMs = boot == 0 ? 0 : boot + (startTicks * 1000 / ClockTicksPerSecond);
        byte[] exe = ReadLink(Path.Combine(dir, "exe"));
        byte[] cwd = ReadLink(Path.Combine(dir, "cwd"));
        var (argv, truncated) = SplitCmdline(ReadBounded(Path.Combine(dir, "cmdline"), maxArgBytes + 1) ?? [], maxArgs, maxArgBytes);
        uint? uid = null, auid = null;
        byte[]? status = ReadBounded(Path.Combine(dir, "status"), 16 * 1024);
        if (status is not null)
        {
            int at = status.AsSpan().IndexOf("\nUid:\t"u8);
            if (at >= 0 && Utf8Parser.TryParse(status.AsSpan(at + 6), out uint u, out _))
            {
                uid = u;
            }
        }
        byte[]? login = ReadBounded(Path.Combine(dir, "loginuid"), 32);
        if (login is not null && Utf8Parser.TryParse(login, out uint a, out _))
        {
            auid = a;
        }
        byte[]? cgroupText = exited ? null : ReadBounded(Path.Combine(dir, "cgroup"), 64 * 1024);
        byte[]? cgroup = null;
        CgroupInfo? info = null;
        if (cgroupText is not null)
        {
            (cgroup, var parsed) = CgroupPath.FromProcFile(cgroupText);
            info = cgroup is null ? null : parsed;
        }
        return new ProcInfo(pid, ppid, startTicks, startMs, exe, argv, truncated, cwd, uid, auid, cgroup, info);
    }

    /// <summary>
    /// Fields 3 (state), 4 (ppid) and 22 (starttime, clock ticks after boot) of /proc/PID/stat. The command name
    /// (field 2) is in parentheses and may hold anything, ')' and spaces too: fields are counted after
    /// the last ')'.
    /// </summary>
    internal static bool TryParseStat(ReadOnlySpan<byte> stat, out int ppid, out long startTicks, out byte state)
    {
        ppid = 0;
        startTicks = 0;
        state = 0;
        int close = stat.LastIndexOf((byte)')');
        if (close < 0 || close + 2 > stat.Length)
        {
            return false;
        }
        var rest = stat[(close + 2)..];
        int field = 3;
        foreach (Range r in rest.Split((byte)' '))
        {
            var value = rest[r];
            if (field == 3 && value.Length == 1)
            {
                state = value[0];
            }
            if (field == 4 && !Utf8Parser.TryParse(value, out ppid, out _))
            {
                return false;
            }
            if (field == 22)
            {
                return Utf8Parser.TryParse(value, out startTicks, out _);
            }
            field++;
        }
        return false;
    }

    /// <summary>NUL-separated arguments, bounded by count and total bytes; truncated when either cut.</summary>
    internal static (byte[][] Argv, bool Truncated) SplitCmdline(ReadOnlySpan<byte> cmdline, int maxArgs, int maxArgBytes)
    {
        bool truncated = false;
        if (cmdline.Length > maxArgBytes)
        {
            cmdline = cmdline[..maxArgBytes];
            truncated = true;
        }
        if (!cmdline.IsEmpty && cmdline[^1] == 0)
        {
            cmdline = cmdline[..^1];
        }
        if (cmdline.IsEmpty)
        {
            return ([], truncated);
        }
        var args = new List<byte[]>();
        foreach (Range r in cmdline.Split((byte)0))
        {
            if (args.Count == maxArgs)
            {
                truncated = true;
                break;
            }
            args.Add(cmdline[r].ToArray());
        }
        return ([.. args], truncated);
    }

    private static byte[] ReadLink(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget is string target ? System.Text.Encoding.UTF8.GetBytes(target) : [];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    private static byte[]? ReadBounded(string path, int max)
    {
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.None);
            byte[] buffer = new byte[max];
            int total = 0;
            while (total < max)
            {
                int n = file.Read(buffer, total, max - total);
                if (n == 0)
                {
                    break;
                }
                total += n;
            }
            return buffer.AsSpan(0, total).ToArray();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
