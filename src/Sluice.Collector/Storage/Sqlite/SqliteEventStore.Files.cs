namespace Sluice.Collector.Storage.Sqlite;

internal sealed partial class SqliteEventStore
{
    private const UnixFileMode PrivateFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode PrivateDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>Creates a new store's directories (0700) and file (0600) before SQLite opens it.</summary>
    /// <remarks>
    /// The store holds audited command lines. SQLite would create the file 0644 less the umask, and
    /// a collector run outside its systemd unit (whose UMask is 0077) has the usual umask 022: every
    /// local user could read it. SQLite gives the -wal and -shm files the database file's mode
    /// (sqlite3.c, unix VFS: findCreateFileMode, unixOpenSharedMemory), so they follow. A file or
    /// directory that already exists keeps the mode its owner gave it.
    /// </remarks>
    private void CreatePrivateFiles()
    {
        if (Path is "" or ":memory:" || Path.StartsWith("file:", StringComparison.OrdinalIgnoreCase))
        {
            return;
        }
        string full = System.IO.Path.GetFullPath(Path);
        // Directory.CreateDirectory(path, mode) gives the mode to the last directory only; the ones above it it creates 0777 less the umask.
        var missing = new Stack<string>();
        for (string? dir = System.IO.Path.GetDirectoryName(full); dir is not null && !Directory.Exists(dir); dir = System.IO.Path.GetDirectoryName(dir))
        {
            missing.Push(dir);
        }
        while (missing.TryPop(out string? dir))
        {
            Directory.CreateDirectory(dir, PrivateDirectory);
        }
        try
        {
            using var created = new FileStream(full, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = PrivateFile });
        }
        catch (IOException) when (File.Exists(full))
        {
            // There already: SQLite opens it as it is.
        }
    }
}
