namespace Sluice.Audit.Accounts;

/// <summary>The state of one account file as the cache last loaded it.</summary>
/// <param name="Path">The file.</param>
/// <param name="Exists">False when the file was missing: no names.</param>
/// <param name="Entries">Distinct ids with a name.</param>
/// <param name="MalformedLines">Lines skipped in the loaded version of the file.</param>
/// <param name="FirstMalformedLine">Line number of the first of them; 0 if none.</param>
/// <param name="Loads">Times the file was read since the cache was made.</param>
/// <param name="ReadFailures">Times reading it failed; the names loaded before stay in use.</param>
/// <param name="LastError">Why the last read failed; null after a good read.</param>
public sealed record AccountFileStatus(
    string Path, bool Exists, int Entries, int MalformedLines, int FirstMalformedLine, long Loads, long ReadFailures, string? LastError)
{
    /// <summary>Read, present and with no line skipped.</summary>
    public bool Healthy => LastError is null && Exists && MalformedLines == 0;

    /// <summary>The state in a sentence for a log or stderr, e.g. "/etc/passwd: 2 malformed lines skipped (the first is line 7); 40 ids".</summary>
    public string Describe() =>
        LastError is not null ? $"cannot read account names: {LastError}; the names loaded before, if any, stay in use"
        : !Exists ? $"{Path}: no such file; those ids stay numeric"
        : MalformedLines > 0 ? $"{Path}: {MalformedLines} malformed lines skipped (the first is line {FirstMalformedLine}); {Entries} ids"
        : $"{Path}: {Entries} ids";
}

/// <summary>
/// uid and gid to names, from <c>etc/passwd</c> and <c>etc/group</c> under a root directory (<c>/</c> for
/// this host), read directly rather than through NSS. Each file is parsed once into an id → name table whose
/// strings are reused for every event; the file is checked (size and mtime) at most once per
/// <see cref="CheckInterval"/>, and read again when either changed.
/// </summary>
/// <remarks>
/// When an id appears on several lines, the first wins, as with getpwuid(3) on the files backend.
/// Ids that are in no file have no name. A file that cannot be read keeps its previous names, and the
/// failure is counted in <see cref="Users"/> / <see cref="Groups"/>. Safe for concurrent readers: a reload
/// builds a new table and publishes it whole.
/// </remarks>
public sealed class AccountNameCache
{
    /// <summary>How often, at most, the files' size and mtime are checked.</summary>
    public static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(1);

    private readonly AccountTable _users;
    private readonly AccountTable _groups;
    private readonly TimeProvider _time;

    /// <param name="root">Directory holding <c>etc/passwd</c> and <c>etc/group</c>.</param>
    /// <param name="time">Clock for the check interval; <see cref="TimeProvider.System"/> by default.</param>
    /// <param name="loaded">Called after each read of a file (or failure to read it), on the calling thread.</param>
    public AccountNameCache(string root = "/", TimeProvider? time = null, Action<AccountFileStatus>? loaded = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        Root = root;
        time ??= TimeProvider.System;
        _time = time;
        _users = new AccountTable(AccountFile.PathOf(root, AccountKind.User), AccountKind.User, time, loaded);
        _groups = new AccountTable(AccountFile.PathOf(root, AccountKind.Group), AccountKind.Group, time, loaded);
    }

    public string Root { get; }

    /// <summary>The passwd file's state (loads it if it was never loaded).</summary>
    public AccountFileStatus Users => _users.Status(_time.GetTimestamp());

    /// <summary>The group file's state (loads it if it was never loaded).</summary>
    public AccountFileStatus Groups => _groups.Status(_time.GetTimestamp());

    /// <summary>The name of <paramref name="uid"/>, or null.</summary>
    public string? UserName(uint uid) => Current().User(uid);

    /// <summary>The name of <paramref name="gid"/>, or null.</summary>
    public string? GroupName(uint gid) => Current().Group(gid);

    /// <summary>The current tables, checked for changes if the interval has passed: take it once per event.</summary>
    public AccountNameLookup Current()
    {
        long now = _time.GetTimestamp();
        return new(_users.Current(now), _groups.Current(now));
    }

    /// <summary>One file's names, as loaded at one time.</summary>
    internal sealed class Table(Dictionary<uint, string> names, FileStamp stamp)
    {
        public static readonly Table Empty = new([], default);

        public Dictionary<uint, string> Names { get; } = names;

        public FileStamp Stamp { get; } = stamp;
    }

    /// <summary>What is compared to notice a change: existence, size and mtime.</summary>
    internal readonly record struct FileStamp(bool Exists, long Length, long MtimeTicks);

    private sealed class AccountTable(string path, AccountKind kind, TimeProvider time, Action<AccountFileStatus>? loaded)
    {
        private readonly Lock _lock = new();
        private readonly long _interval = (long)(CheckInterval.TotalSeconds * time.TimestampFrequency);
        private volatile Table _table = Table.Empty;
        private long _nextCheck;
        private bool _checked;
        private AccountFileStatus _status = new(path, false, 0, 0, 0, 0, 0, null);

        public AccountFileStatus Status(long now)
        {
            Current(now);
            lock (_lock)
            {
                return _status;
            }
        }

        public Table Current(long now)
        {
            if (!Volatile.Read(ref _checked) || now - Volatile.Read(ref _nextCheck) >= 0)
            {
                Check(now);
            }
            return _table;
        }

        private void Check(long now)
        {
            lock (_lock)
            {
                if (_checked && now - _nextCheck < 0)
                {
                    return;
                }
                // other readers go on with the current table while this one checks; the very first load they wait for
                Volatile.Write(ref _nextCheck, now + _interval);
                try
                {
                    StatAndLoad();
                }
                finally
                {
                    Volatile.Write(ref _checked, true);
                }
            }
        }

        private void StatAndLoad()
        {
            FileStamp stamp;
            try
            {
                stamp = Stat(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Failed(e.Message);
                return;
            }
            if (stamp == _table.Stamp && _status.Loads > 0)
            {
                return;
            }
            Load(stamp);
        }

        private void Load(FileStamp stamp)
        {
            if (!stamp.Exists)
            {
                _table = new Table([], stamp);
                Report(_status with { Exists = false, Entries = 0, MalformedLines = 0, FirstMalformedLine = 0, Loads = _status.Loads + 1, LastError = null });
                return;
            }
            if (stamp.Length > AccountFile.MaxBytes)
            {
                Failed($"{stamp.Length} bytes, over the {AccountFile.MaxBytes}-byte limit for an account file");
                return;
            }
            byte[] content;
            try
            {
                content = File.ReadAllBytes(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Failed(e.Message);
                return;
            }
            List<AccountEntry> entries = AccountFile.Parse(content, kind, out int malformed, out int firstMalformed);
            var names = new Dictionary<uint, string>(entries.Count);
            foreach (AccountEntry entry in entries)
            {
                names.TryAdd(entry.Id, entry.Name);
            }
            _table = new Table(names, stamp);
            Report(new AccountFileStatus(path, true, names.Count, malformed, firstMalformed, _status.Loads + 1, _status.ReadFailures, null));
        }

        private void Failed(string reason)
        {
            string error = $"{path}: {reason}";
            AccountFileStatus status = _status with { ReadFailures = _status.ReadFailures + 1, LastError = error };
            if (error == _status.LastError)
            {
                // the same failure again, a second later: counted, not reported again
                _status = status;
                return;
            }
            Report(status);
        }

        private void Report(AccountFileStatus status)
        {
            _status = status;
            loaded?.Invoke(status);
        }

        private static FileStamp Stat(string path)
        {
            var info = new FileInfo(path);
            return info.Exists ? new FileStamp(true, info.Length, info.LastWriteTimeUtc.Ticks) : new FileStamp(false, 0, 0);
        }
    }
}

/// <summary>The user and group tables of an <see cref="AccountNameCache"/> at one moment; lookups allocate nothing.</summary>
public readonly struct AccountNameLookup
{
    private readonly AccountNameCache.Table? _users;
    private readonly AccountNameCache.Table? _groups;

    internal AccountNameLookup(AccountNameCache.Table users, AccountNameCache.Table groups)
    {
        _users = users;
        _groups = groups;
    }

    /// <summary>The name of <paramref name="uid"/>, or null (always null for 4294967295, "unset").</summary>
    public string? User(uint uid) => _users is not null && _users.Names.TryGetValue(uid, out string? name) ? name : null;

    /// <summary>The name of <paramref name="gid"/>, or null.</summary>
    public string? Group(uint gid) => _groups is not null && _groups.Names.TryGetValue(gid, out string? name) ? name : null;
}
