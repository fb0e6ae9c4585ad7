using Google.Protobuf;
using Sluice.Agent.Configuration;
using Sluice.Audit.Records;
using Sluice.Audit.Tables;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Enrichment;

/// <summary>
/// Keeps the process table from the events (exec, fork, exit_group) and /proc, and gives each event
/// that names a process its <see cref="ProcessContext"/> (docs/process-context.md). A field the table
/// cannot know is UNKNOWN, never guessed.
/// </summary>
/// <remarks>
/// One per drain thread (or replay). The context returned is reused from event to event, like the raw
/// form's event: serialize it before the next call. An event of a process the table knows allocates
/// nothing: the parent, ancestry levels and container are messages cached on the entries.
/// </remarks>
internal sealed class Enricher
{
    private readonly ProcessTable _table;
    private readonly IProcSource? _proc;
    private readonly int _depth;
    private readonly int _maxArgs;
    private readonly int _maxArgBytes;
    private readonly long _keepMs;
    private readonly ProcessContext _context = new();
    private readonly Dictionary<int, PendingFork> _pending = [];
    private readonly Dictionary<int, long> _procMissing = [];
    private long _parentUnknown;
    private long _containerUnknown;
    private long _unitUnknown;
    private long _procScanned;

    /// <summary>A fork seen before any event of the child: the child's entry is made at its first event (threads never have one: their events carry the process's pid).</summary>
    private readonly record struct PendingFork(ProcessEntry Parent, long TimeMs);

    /// <param name="proc">Null for a replay: no /proc, no cgroups; only what the events say.</param>
    public Enricher(EnrichmentOptions options, IProcSource? proc)
    {
        ArgumentNullException.ThrowIfNull(options);
        _table = new ProcessTable(options.MaxProcesses, TimeSpan.FromSeconds(options.KeepExitedSeconds));
        _proc = proc;
        _depth = options.AncestryDepth;
        _maxArgs = options.MaxArgs;
        _maxArgBytes = options.MaxArgBytes;
        _keepMs = options.KeepExitedSeconds * 1000L;
    }

    public ProcessTable Table => _table;

    /// <summary>Events whose parent the table did not have.</summary>
    public long ParentUnknown => Volatile.Read(ref _parentUnknown);
    public long ContainerUnknown => Volatile.Read(ref _containerUnknown);
    public long UnitUnknown => Volatile.Read(ref _unitUnknown);

    /// <summary>Processes read from /proc (the start scan and first sights).</summary>
    public long ProcScanned => Volatile.Read(ref _procScanned);

    /// <summary>Reads every process in /proc into the table (ScanProcAtStart); parents are linked after all are read.</summary>
    public int ScanProc(long nowMs)
    {
        if (_proc is null)
        {
            return 0;
        }
        var read = new List<ProcessEntry>();
        foreach (int pid in _proc.Pids())
        {
            if (read.Count >= _table.MaxProcesses)
            {
                break;
            }
            if (_proc.Read(pid) is { } info)
            {
                Interlocked.Increment(ref _procScanned);
                var e = new ProcessEntry(pid) { FirstSeenMs = nowMs, ProcTried = true, Source = ProcessSource.ProcScan };
                Fill(e, info);
                read.Add(e);
                _table.Add(e, nowMs);
            }
        }
        foreach (var e in read)
        {
            if (e.Ppid > 0 && _table.Get(e.Ppid) is { } parent && parent.StartTicks <= e.StartTicks)
            {
                e.Parent = parent;
            }
        }
        return read.Count;
    }

    /// <summary>Drops exited entries past KeepExitedSeconds and forks never followed by an event of the child.</summary>
    public void Expire(long nowMs)
    {
        _table.Expire(nowMs);
        if (_pending.Count > 0)
        {
            List<int>? old = null;
            foreach (var (pid, fork) in _pending)
            {
                if (nowMs - fork.TimeMs > _keepMs)
                {
                    (old ??= []).Add(pid);
                }
            }
            old?.ForEach(pid => _pending.Remove(pid));
        }
        _procMissing.Clear();
    }

    /// <summary>Learns from <paramref name="ev"/> and returns its context; null when the event names no process.</summary>
    public ProcessContext? Enrich(AuditEvent ev) => Learn(ev) is { } e ? Build(e) : null;

    /// <summary>
    /// Learns from <paramref name="ev"/> (also from events the filters drop: the table needs every exec
    /// and fork), and returns its process's entry for <see cref="Context"/>; null when it names none.
    /// </summary>
    public ProcessEntry? Learn(AuditEvent ev)
    {
        ArgumentNullException.ThrowIfNull(ev);
        if (!EventFacts.TryRead(ev, out var facts))
        {
            return null;
        }
        long now = ev.UnixMilliseconds;
        ProcessEntry e = Resolve(ev, facts, now);
        switch (facts.Kind)
        {
            case SyscallKind.Exec when facts.Success:
                Exec(e, ev);
                // A process is often moved to its cgroup just before it execs (what container runtimes
                // do): read its cgroup again, once per exec, not per event.
                if (e.ProcTried && _proc is not null && e.FirstSeenMs != now)
                {
                    TryProc(e, now, imageFromEvent: true);
                }
                break;
            case SyscallKind.Fork or SyscallKind.Clone3 when facts.Success && facts.Exit > 0 && facts.Exit <= int.MaxValue:
                Forked(e, (int)facts.Exit, now);
                break;
            case SyscallKind.ExitGroup:
                _table.MarkExited(e, now);
                break;
        }
        return e;
    }

    /// <summary>The context of an event of <paramref name="e"/>'s process (reused: valid until the next call).</summary>
    public ProcessContext Context(ProcessEntry e) => Build(e);

    /// <summary>The current incarnation of the event's process, made (from a pending fork, /proc or the event) when the table has none.</summary>
    private ProcessEntry Resolve(AuditEvent ev, in EventFacts facts, long now)
    {
        ProcessEntry? e = _table.Get(facts.Pid);
        // An exec event says the new image (exe, argv, cwd, ids): /proc is read only for what it cannot.
        bool imageFromEvent = facts.Kind == SyscallKind.Exec && facts.Success;
        bool hasPending = _pending.Remove(facts.Pid, out var fork) && fork.TimeMs <= now;
        if (e is not null)
        {
            bool stale = e.Exited
                // a fork of this pid after the entry was made: a new process
                || (hasPending && fork.TimeMs >= e.FirstSeenMs && fork.Parent != e.Parent)
                // the event's parent is another live process than the recorded one: the pid was used again
                || (facts.Ppid > 1 && e.Ppid > 1 && facts.Ppid != e.Ppid && e.Parent is { Exited: false, InTable: true });
            if (!stale)
            {
                _table.Touch(e);
                if (!e.ProcTried)
                {
                    TryProc(e, now, imageFromEvent);
                }
                return e;
            }
        }
        e = new ProcessEntry(facts.Pid) { FirstSeenMs = now, Source = ProcessSource.Event };
        if (hasPending)
        {
            InheritFrom(e, fork.Parent);
            e.StartUnixMs = fork.TimeMs;
            e.Source = ProcessSource.Fork;
        }
        else
        {
            e.Ppid = facts.Ppid;
            e.Parent = facts.Ppid > 0 ? LiveParent(facts.Ppid, now, 0) : null;
        }
        if (facts.HasSyscall)
        {
            byte[] exe = EventFacts.ReadString(ev, AuditMessageType.Syscall, "exe"u8, 4096);
            if (exe.Length > 0)
            {
                e.Exe = exe;
            }
            e.Uid = EventFacts.ReadId(ev, "uid"u8) ?? e.Uid;
            e.Auid = EventFacts.ReadId(ev, "auid"u8) ?? e.Auid;
        }
        _table.Add(e, now);
        TryProc(e, now, imageFromEvent);
        return e;
    }

    /// <summary>The live entry of <paramref name="pid"/>, an event's parent now; read from /proc when the table lacks it (ancestors too, to the depth).</summary>
    private ProcessEntry? LiveParent(int pid, long now, int level)
    {
        if (_table.Get(pid) is { Exited: false } p)
        {
            return p;
        }
        if (_proc is null || level > _depth || _procMissing.ContainsKey(pid))
        {
            return null;
        }
        if (_proc.Read(pid) is not { } info || (info.StartUnixMs != 0 && info.StartUnixMs > now + 1000))
        {
            // gone, or a later process with that pid (start times are whole-second exact at best: boot time)
            _procMissing[pid] = now;
            return null;
        }
        Interlocked.Increment(ref _procScanned);
        var e = new ProcessEntry(pid) { FirstSeenMs = now, ProcTried = true, Source = ProcessSource.ProcScan };
        Fill(e, info);
        e.Parent = e.Ppid > 0 ? LiveParent(e.Ppid, now, level + 1) : null;
        _table.Add(e, now);
        return e;
    }

    /// <summary>First sight of a process: its /proc entry, unless gone or a later process's; then its cgroup comes from its parent (inherited).</summary>
    private void TryProc(ProcessEntry e, long now, bool imageFromEvent = false)
    {
        e.ProcTried = true;
        if (_proc is null)
        {
            return;
        }
        // The same process, not a later one with its pid: started before the event (boot time is whole
        // seconds, hence the second of slack); without a start time, the parent must match or be gone.
        if (_proc.Read(e.Pid, imageFromEvent) is { } info && (info.StartUnixMs != 0
            ? info.StartUnixMs <= now + 1000
            : e.Ppid == 0 || info.Ppid == e.Ppid || info.Ppid == 1 || e.Parent is { Exited: true }))
        {
            Interlocked.Increment(ref _procScanned);
            e.StartTicks = info.StartTicks;
            e.StartUnixMs = info.StartUnixMs;
            if (e.Exe.Length == 0)
            {
                e.Exe = info.Exe;
            }
            if (e.Cwd.Length == 0)
            {
                e.Cwd = info.Cwd;
            }
            if (e.Argv.Length == 0 && e.Source is ProcessSource.Event)
            {
                (e.Argv, e.ArgvTruncated) = (info.Argv, info.ArgvTruncated);
                e.Source = ProcessSource.ProcScan;
            }
            e.Uid ??= info.Uid;
            e.Auid ??= info.Auid;
            if (info.CgroupInfo is not null)
            {
                (e.Cgroup, e.CgroupInfo, e.CgroupInherited) = (info.Cgroup, info.CgroupInfo, false);
            }
        }
        // Gone, or a zombie whose cgroup no longer says: the nearest ancestor's (a child is born in its parent's cgroup).
        if (e.CgroupInfo is null)
        {
            for (var a = e.Parent; a is not null; a = a.Parent)
            {
                if (a.CgroupInfo is not null)
                {
                    (e.Cgroup, e.CgroupInfo, e.CgroupInherited) = (a.Cgroup, a.CgroupInfo, true);
                    break;
                }
            }
        }
        _table.Update(e);
    }

    private void Exec(ProcessEntry e, AuditEvent ev)
    {
        e.ExecSerial = ev.Serial;
        e.Source = ProcessSource.Exec;
        byte[] exe = EventFacts.ReadString(ev, AuditMessageType.Syscall, "exe"u8, 4096);
        if (exe.Length > 0)
        {
            e.Exe = exe;
        }
        (e.Argv, e.ArgvTruncated) = EventFacts.ReadArgv(ev, _maxArgs, _maxArgBytes);
        byte[] cwd = EventFacts.ReadString(ev, AuditMessageType.Cwd, "cwd"u8, 4096);
        if (cwd.Length > 0)
        {
            e.Cwd = cwd;
        }
        e.Uid = EventFacts.ReadId(ev, "uid"u8) ?? e.Uid;
        e.Auid = EventFacts.ReadId(ev, "auid"u8) ?? e.Auid;
        _table.Update(e);
    }

    private void Forked(ProcessEntry parent, int child, long now)
    {
        // The child's own event may have come first (it ran before the fork returned in the parent).
        if (_table.Get(child) is { Exited: false } seen && seen.FirstSeenMs >= now && (seen.Ppid == parent.Pid || seen.Parent == parent))
        {
            if (seen.Parent is null)
            {
                seen.Parent = parent;
                seen.Ppid = parent.Pid;
            }
            return;
        }
        if (_pending.Count >= _table.MaxProcesses)
        {
            _pending.Clear();
        }
        _pending[child] = new PendingFork(parent, now);
    }

    private static void InheritFrom(ProcessEntry e, ProcessEntry parent)
    {
        e.Parent = parent;
        e.Ppid = parent.Pid;
        e.Exe = parent.Exe;
        e.Argv = parent.Argv;
        e.ArgvTruncated = parent.ArgvTruncated;
        e.Cwd = parent.Cwd;
        e.Uid = parent.Uid;
        e.Auid = parent.Auid;
        // A child is born in its parent's cgroup (cgroup-v2.rst, "Processes"); its own /proc, when read, says where it is now.
        if (parent.CgroupInfo is not null)
        {
            (e.Cgroup, e.CgroupInfo, e.CgroupInherited) = (parent.Cgroup, parent.CgroupInfo, true);
        }
    }

    private static void Fill(ProcessEntry e, ProcInfo info)
    {
        e.Ppid = info.Ppid;
        e.StartTicks = info.StartTicks;
        e.StartUnixMs = info.StartUnixMs;
        e.Exe = info.Exe;
        e.Argv = info.Argv;
        e.ArgvTruncated = info.ArgvTruncated;
        e.Cwd = info.Cwd;
        e.Uid = info.Uid;
        e.Auid = info.Auid;
        e.Cgroup = info.Cgroup;
        e.CgroupInfo = info.CgroupInfo;
    }

    /// <summary>The parent entry of <paramref name="e"/>: its link, or the live process with its ppid when that one is known to be older.</summary>
    private ProcessEntry? ParentOf(ProcessEntry e)
    {
        if (e.Parent is { } p)
        {
            return p;
        }
        if (e.Ppid <= 0 || !e.InTable)
        {
            return null;
        }
        if (_table.Get(e.Ppid) is { } candidate && candidate != e
            && ((candidate.StartTicks != 0 && e.StartTicks != 0 && candidate.StartTicks <= e.StartTicks) || candidate.FirstSeenMs <= e.FirstSeenMs))
        {
            e.Parent = candidate;
            return candidate;
        }
        return null;
    }

    private ProcessContext Build(ProcessEntry e)
    {
        var c = _context;
        c.ExecSerial = e.ExecSerial;
        ProcessEntry? parent = ParentOf(e);
        if (parent is not null)
        {
            c.ParentState = ContextState.Known;
            c.Parent = parent.AsRef();
        }
        else
        {
            // pid 1 and kernel threads have no parent (ppid 0): known to be none.
            bool none = e.Ppid == 0 && e.ProcTried && e.StartTicks != 0;
            c.ParentState = none ? ContextState.Known : ContextState.Unknown;
            c.Parent = null;
            if (!none)
            {
                Interlocked.Increment(ref _parentUnknown);
            }
        }
        c.Ancestry.Clear();
        c.AncestryTruncated = false;
        ProcessEntry current = e;
        for (ProcessEntry? a = parent; ; a = ParentOf(a))
        {
            if (a is null)
            {
                if (current.Ppid > 0 && c.Ancestry.Count < _depth)
                {
                    c.Ancestry.Add(new Ancestor { Pid = (uint)current.Ppid, Unknown = true });
                }
                break;
            }
            if (c.Ancestry.Count == _depth)
            {
                c.AncestryTruncated = true;
                break;
            }
            c.Ancestry.Add(a.AsAncestor());
            current = a;
            if (a.Ppid == 0)
            {
                break;
            }
        }
        if (e.CgroupInfo is { } info)
        {
            c.ContainerState = ContextState.Known;
            c.Container = e.AsContainer(e.CgroupInherited);
            c.UnitState = ContextState.Known;
            c.Unit = info.Unit ?? "";
            c.Cgroup = e.CgroupBytes();
            c.CgroupInherited = e.CgroupInherited;
        }
        else
        {
            c.ContainerState = ContextState.Unknown;
            c.Container = null;
            c.UnitState = ContextState.Unknown;
            c.Unit = "";
            c.Cgroup = ByteString.Empty;
            c.CgroupInherited = false;
            Interlocked.Increment(ref _containerUnknown);
            Interlocked.Increment(ref _unitUnknown);
        }
        return c;
    }
}
