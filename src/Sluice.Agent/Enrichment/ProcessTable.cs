namespace Sluice.Agent.Enrichment;

/// <summary>
/// The bounded table of processes, one current incarnation per pid. Exited entries are kept
/// <c>KeepExitedSeconds</c> for their children's events; over <c>MaxProcesses</c> the oldest exited
/// entry goes first, else the least recently used live one, and each such eviction is counted.
/// </summary>
/// <remarks>
/// Memory bound: the table holds at most <c>MaxProcesses</c> entries. An entry that leaves it drops its
/// link to its own parent, so a live child keeps at most that one entry alive beyond the table: at most
/// twice <c>MaxProcesses</c> entries in all, each with argv bounded by <c>MaxArgs</c> and <c>MaxArgBytes</c>.
/// Used on one thread; the counters are read from others.
/// </remarks>
internal sealed class ProcessTable
{
    private readonly Dictionary<int, ProcessEntry> _byPid;
    private readonly Queue<ProcessEntry> _exited = new();
    private readonly int _max;
    private readonly long _keepExitedMs;
    private ProcessEntry? _oldest;
    private ProcessEntry? _newest;
    private long _evicted;
    private long _bytes;
    private int _count;
    private int _exitedKept;

    public ProcessTable(int maxProcesses, TimeSpan keepExited)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxProcesses, 1);
        _max = maxProcesses;
        _keepExitedMs = (long)keepExited.TotalMilliseconds;
        _byPid = new Dictionary<int, ProcessEntry>(Math.Min(maxProcesses, 4096));
    }

    public int MaxProcesses => _max;

    /// <summary>Entries in the table, live and exited.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Exited entries kept for their children.</summary>
    public int ExitedKept => Volatile.Read(ref _exitedKept);

    /// <summary>Entries pushed out by <c>MaxProcesses</c> (not those that expired after exiting, nor pids used again).</summary>
    public long Evicted => Volatile.Read(ref _evicted);

    /// <summary>Approximate bytes of the entries in the table.</summary>
    public long Bytes => Volatile.Read(ref _bytes);

    /// <summary>The current incarnation of <paramref name="pid"/>, live or exited; null if none.</summary>
    public ProcessEntry? Get(int pid) => _byPid.GetValueOrDefault(pid);

    /// <summary>Marks <paramref name="e"/> as the most recently used.</summary>
    public void Touch(ProcessEntry e)
    {
        if (e.InLru && e != _newest)
        {
            Unlink(e);
            Link(e);
        }
    }

    /// <summary>Puts <paramref name="e"/> in as the current incarnation of its pid; the previous one leaves the table.</summary>
    public void Add(ProcessEntry e, long nowMs)
    {
        if (_byPid.TryGetValue(e.Pid, out var old))
        {
            Remove(old);
        }
        Expire(nowMs);
        while (_count >= _max && EvictOne())
        {
        }
        e.Changed();
        e.InTable = true;
        _byPid[e.Pid] = e;
        Volatile.Write(ref _count, _count + 1);
        Interlocked.Add(ref _bytes, e.Bytes);
        if (e.Exited)
        {
            _exited.Enqueue(e);
            Volatile.Write(ref _exitedKept, _exitedKept + 1);
        }
        else
        {
            Link(e);
        }
    }

    /// <summary>After a change to <paramref name="e"/>'s fields: its cached messages and size.</summary>
    public void Update(ProcessEntry e)
    {
        int before = e.Bytes;
        e.Changed();
        if (e.InTable)
        {
            Interlocked.Add(ref _bytes, e.Bytes - before);
        }
    }

    /// <summary>The process exited (its exit_group or exit event): kept <c>KeepExitedSeconds</c> from now.</summary>
    public void MarkExited(ProcessEntry e, long nowMs)
    {
        if (e.Exited)
        {
            return;
        }
        e.Exited = true;
        e.ExitedAtMs = nowMs;
        Update(e);
        if (e.InTable)
        {
            Unlink(e);
            _exited.Enqueue(e);
            Volatile.Write(ref _exitedKept, _exitedKept + 1);
        }
    }

    /// <summary>Drops exited entries kept longer than <c>KeepExitedSeconds</c>.</summary>
    public void Expire(long nowMs)
    {
        while (_exited.TryPeek(out var e) && (!e.InTable || nowMs - e.ExitedAtMs >= _keepExitedMs))
        {
            _exited.Dequeue();
            if (e.InTable)
            {
                Remove(e);
            }
        }
    }

    private bool EvictOne()
    {
        while (_exited.TryDequeue(out var e))
        {
            if (e.InTable)
            {
                Remove(e);
                Interlocked.Increment(ref _evicted);
                return true;
            }
        }
        if (_oldest is { } lru)
        {
            Remove(lru);
            Interlocked.Increment(ref _evicted);
            return true;
        }
        return false;
    }

    private void Remove(ProcessEntry e)
    {
        if (!e.InTable)
        {
            return;
        }
        e.InTable = false;
        if (_byPid.TryGetValue(e.Pid, out var current) && current == e)
        {
            _byPid.Remove(e.Pid);
        }
        if (e.InLru)
        {
            Unlink(e);
        }
        else if (e.Exited)
        {
            Volatile.Write(ref _exitedKept, _exitedKept - 1);
        }
        // A child still pointing at this entry keeps it, but not its ancestors (see the remarks).
        e.Parent = null;
        Volatile.Write(ref _count, _count - 1);
        Interlocked.Add(ref _bytes, -e.Bytes);
    }

    private void Link(ProcessEntry e)
    {
        e.Older = _newest;
        e.Newer = null;
        if (_newest is not null)
        {
            _newest.Newer = e;
        }
        _newest = e;
        _oldest ??= e;
        e.InLru = true;
    }

    private void Unlink(ProcessEntry e)
    {
        if (e.Older is not null)
        {
            e.Older.Newer = e.Newer;
        }
        else
        {
            _oldest = e.Newer;
        }
        if (e.Newer is not null)
        {
            e.Newer.Older = e.Older;
        }
        else
        {
            _newest = e.Older;
        }
        e.Older = e.Newer = null;
        e.InLru = false;
    }
}
