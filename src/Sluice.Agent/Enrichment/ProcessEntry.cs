using Sluice.Protocol.V1;

namespace Sluice.Agent.Enrichment;

/// <summary>
/// One incarnation of a process as the table knows it. A pid used again is a new entry: children hold
/// their parent's entry itself (<see cref="Parent"/>), never only its pid, so a later process that got
/// the same pid is never taken for it.
/// </summary>
/// <remarks>Written on the drain thread only (or the replay's); the cached messages are rebuilt when <see cref="Changed"/>.</remarks>
internal sealed class ProcessEntry
{
    public ProcessEntry(int pid) => Pid = pid;

    public int Pid { get; }

    /// <summary>The pid of the process that forked this one, as first learnt (kept after the kernel reparents it); 0 for none (pid 1, kernel threads) or unknown.</summary>
    public int Ppid;

    /// <summary>The parent's own entry, when the table had it when this one was created; cut when this entry leaves the table (bounds memory).</summary>
    public ProcessEntry? Parent;

    public byte[] Exe = [];
    public byte[][] Argv = [];
    public bool ArgvTruncated;
    public byte[] Cwd = [];

    /// <summary>Serial of its exec event; 0 when not seen.</summary>
    public ulong ExecSerial;

    /// <summary>Start time in clock ticks since boot (/proc/PID/stat field 22); 0 when unknown.</summary>
    public long StartTicks;

    /// <summary>Start time, Unix ms: from /proc (start ticks and boot time) or the time of its fork event; 0 when unknown.</summary>
    public long StartUnixMs;

    /// <summary>Time of the first event or scan that told the table of it, Unix ms.</summary>
    public long FirstSeenMs;

    public uint? Uid;
    public uint? Auid;

    /// <summary>The cgroup path; null when not known (no /proc read, or a replay).</summary>
    public byte[]? Cgroup;

    /// <summary>What <see cref="Cgroup"/> says; null when the cgroup is not known.</summary>
    public CgroupInfo? CgroupInfo;

    /// <summary>Cgroup taken from an ancestor, this process's /proc entry being gone.</summary>
    public bool CgroupInherited;

    /// <summary>True when the /proc read on first sight was tried (found or not): it is not tried again.</summary>
    public bool ProcTried;

    public ProcessSource Source;

    public bool Exited;
    public long ExitedAtMs;

    /// <summary>In the table (not evicted, expired or replaced).</summary>
    public bool InTable;

    // Least recently used list of the table (live entries).
    internal ProcessEntry? Older;
    internal ProcessEntry? Newer;
    internal bool InLru;

    /// <summary>Approximate bytes this entry holds (object, arrays), for the table's total.</summary>
    public int Bytes;

    private ProcessRef? _ref;
    private Ancestor? _ancestor;
    private Container? _container;
    private Container? _inheritedContainer;
    private Google.Protobuf.ByteString? _cgroup;

    /// <summary>The cgroup path as the context's bytes, built once per change.</summary>
    public Google.Protobuf.ByteString CgroupBytes() => _cgroup ??= Cgroup is null ? Google.Protobuf.ByteString.Empty : Google.Protobuf.ByteString.CopyFrom(Cgroup);

    /// <summary>Drops the cached messages after a change.</summary>
    public void Changed()
    {
        _ref = null;
        _ancestor = null;
        _container = null;
        _inheritedContainer = null;
        _cgroup = null;
        Bytes = EstimateBytes();
    }

    /// <summary>This entry as a parent (<see cref="ProcessRef"/>), built once per change.</summary>
    public ProcessRef AsRef()
    {
        if (_ref is { } r && r.Exited == Exited)
        {
            return r;
        }
        r = new ProcessRef
        {
            Pid = (uint)Pid,
            Exe = Google.Protobuf.ByteString.CopyFrom(Exe),
            ArgvTruncated = ArgvTruncated,
            ExecSerial = ExecSerial,
            StartUnixMs = StartUnixMs,
            Source = Source,
            Cwd = Google.Protobuf.ByteString.CopyFrom(Cwd),
            Exited = Exited,
        };
        foreach (byte[] a in Argv)
        {
            r.Argv.Add(Google.Protobuf.ByteString.CopyFrom(a));
        }
        if (Uid is uint uid)
        {
            r.Uid = uid;
        }
        if (Auid is uint auid)
        {
            r.Auid = auid;
        }
        return _ref = r;
    }

    /// <summary>This entry as an ancestry level.</summary>
    public Ancestor AsAncestor() => _ancestor ??= new Ancestor
    {
        Pid = (uint)Pid,
        Exe = Google.Protobuf.ByteString.CopyFrom(Exe),
        ExecSerial = ExecSerial,
    };

    /// <summary>The container of <see cref="CgroupInfo"/>, own or inherited; null when none.</summary>
    public Container? AsContainer(bool inherited)
    {
        if (CgroupInfo is not { ContainerId: string id } info)
        {
            return null;
        }
        ref Container? slot = ref inherited ? ref _inheritedContainer : ref _container;
        return slot ??= new Container { Id = id, Runtime = info.Runtime ?? "", PodUid = info.PodUid ?? "", Inherited = inherited };
    }

    private int EstimateBytes()
    {
        // Object header and fields, plus each array with its header.
        int bytes = 160 + 24 + Exe.Length + 24 + Cwd.Length + 24 + (Argv.Length * 8) + (Cgroup?.Length + 24 ?? 0);
        foreach (byte[] a in Argv)
        {
            bytes += 24 + a.Length;
        }
        return bytes;
    }
}
