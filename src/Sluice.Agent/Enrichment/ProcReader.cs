using System.Buffers.Text;
using System.Text;
using Sluice.Audit.Interop;

namespace Sluice.Agent.Enrichment;

/// <summary>What <c>/proc/PID</c> said about a process when it was read.</summary>
internal sealed record ProcInfo(int Pid, int Ppid, long StartTicks, long StartUnixMs, byte[] Exe, byte[][] Argv, bool ArgvTruncated,
    byte[] Cwd, uint? Uid, uint? Auid, byte[]? Cgroup, CgroupInfo? CgroupInfo);

/// <summary>Where the table reads processes it has not seen in an event: <c>/proc</c>, or nothing (a replay).</summary>
internal interface IProcSource
{
    /// <summary>The process now at <paramref name="pid"/>, or null when there is none (or it cannot be read).</summary>
    /// <param name="imageFromEvent">
    /// The caller has the process's exe, argv, cwd and ids from its exec event: only what the event
    /// cannot say (start time, ppid, state, cgroup) is read; the rest is left empty.
    /// </param>
    ProcInfo? Read(int pid, bool imageFromEvent = false);

    /// <summary>The pids of the processes there now.</summary>
    IEnumerable<int> Pids();
}

/// <summary>
/// Reads <c>/proc/PID/{stat,exe,cmdline,cwd,status,loginuid,cgroup}</c> (proc(5)). Every file is read
/// with a bound; a process that goes away half way gives what was read, or null when its stat is gone.
/// </summary>
/// <remarks>
/// Read on the drain thread for every process the table meets, most of them gone already (a short-lived
/// command): files are read with open/read/close into buffers reused from read to read, through
/// <see cref="PosixCalls"/>, which gives an errno where .NET's file API would throw. Not thread-safe.
/// </remarks>
internal sealed class ProcReader(string root, int maxArgs, int maxArgBytes) : IProcSource
{
    private const int MaxFileBytes = 64 * 1024;
    private const int MaxLinkBytes = 4096;
    private readonly byte[] _root = Encoding.UTF8.GetBytes(root.EndsWith('/') ? root : root + "/");
    private byte[] _path = [];
    private readonly byte[] _buffer = new byte[MaxFileBytes];
    private readonly byte[] _link = new byte[MaxLinkBytes];

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
                int n = ReadFile(Path(-1, "stat"u8), MaxFileBytes);
                if (n >= 0)
                {
                    ReadOnlySpan<byte> stat = _buffer.AsSpan(0, n);
                    int at = stat.IndexOf("\nbtime "u8);
                    if (at >= 0)
                    {
                        var rest = stat[(at + 7)..];
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
            if (int.TryParse(System.IO.Path.GetFileName(dir), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int pid) && pid > 0)
            {
                yield return pid;
            }
        }
    }

    public ProcInfo? Read(int pid, bool imageFromEvent = false)
    {
        int n = ReadFile(Path(pid, "stat"u8), 4096);
        if (n < 0 || !TryParseStat(_buffer.AsSpan(0, n), out int ppid, out long startTicks, out byte state))
        {
            return null;
        }
        // A zombie (Z) or dead (X) task has left its cgroups: its cgroup file shows the root whatever it
        // was in (the kernel moves an exiting task to the root css_set), so it is not read.
        bool exited = state is (byte)'Z' or (byte)'X';
        long boot = BootUnixMs;
        long startMs = boot == 0 ? 0 : boot + (startTicks * 1000 / ClockTicksPerSecond);
        byte[] exe = [], cwd = [];
        byte[][] argv = [];
        bool truncated = false;
        uint? uid = null, auid = null;
        if (!imageFromEvent)
        {
            exe = ReadLink(Path(pid, "exe"u8));
            cwd = ReadLink(Path(pid, "cwd"u8));
            n = ReadFile(Path(pid, "cmdline"u8), maxArgBytes + 1);
            (argv, truncated) = SplitCmdline(n < 0 ? [] : _buffer.AsSpan(0, n), maxArgs, maxArgBytes);
            n = ReadFile(Path(pid, "status"u8), 16 * 1024);
            if (n >= 0)
            {
                ReadOnlySpan<byte> status = _buffer.AsSpan(0, n);
                int at = status.IndexOf("\nUid:\t"u8);
                if (at >= 0 && Utf8Parser.TryParse(status[(at + 6)..], out uint u, out _))
                {
                    uid = u;
                }
            }
            n = ReadFile(Path(pid, "loginuid"u8), 32);
            if (n >= 0 && Utf8Parser.TryParse(_buffer.AsSpan(0, n), out uint a, out _))
            {
                auid = a;
            }
        }
        byte[]? cgroup = null;
        CgroupInfo? info = null;
        if (!exited && (n = ReadFile(Path(pid, "cgroup"u8), MaxFileBytes)) >= 0)
        {
            (cgroup, var parsed) = CgroupPath.FromProcFile(_buffer.AsSpan(0, n));
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

    /// <summary><c>ROOT/PID/NAME</c> (or <c>ROOT/NAME</c> for a negative pid) and a NUL, in a buffer reused from call to call.</summary>
    private ReadOnlySpan<byte> Path(int pid, ReadOnlySpan<byte> name)
    {
        int need = _root.Length + 12 + name.Length + 1;
        if (_path.Length < need)
        {
            _path = new byte[need];
        }
        _root.CopyTo(_path, 0);
        int at = _root.Length;
        if (pid >= 0)
        {
            Utf8Formatter.TryFormat(pid, _path.AsSpan(at), out int written);
            at += written;
            _path[at++] = (byte)'/';
        }
        name.CopyTo(_path.AsSpan(at));
        at += name.Length;
        _path[at++] = 0;
        return _path.AsSpan(0, at);
    }

    /// <summary>The file's first <paramref name="max"/> bytes into the shared buffer; their count, or −1 when it cannot be read.</summary>
    private int ReadFile(ReadOnlySpan<byte> path, int max)
    {
        int n = PosixCalls.ReadFile(path, _buffer.AsSpan(0, Math.Min(max, _buffer.Length)));
        return n < 0 ? -1 : n;
    }

    private byte[] ReadLink(ReadOnlySpan<byte> path)
    {
        int n = PosixCalls.ReadLink(path, _link);
        return n <= 0 ? [] : _link.AsSpan(0, n).ToArray();
    }
}
