using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Sluice.Collector.Storage.Sqlite;

/// <summary>
/// Copies the WAL back into the database file on a connection and thread of its own, so that the
/// single writer does not stop to do it.
/// </summary>
/// <remarks>
/// <para>
/// By default SQLite checkpoints in the committing connection once the WAL passes 1000 pages: the
/// writer reads the WAL back, writes the database file and syncs it, while every batch waits. With
/// the writer's automatic checkpoints off, this checkpoints (PASSIVE: it never blocks the writer
/// or readers) every <see cref="Interval"/>, on the other core.
/// </para>
/// <para>
/// A passive checkpoint beside a busy writer rarely catches the WAL's very end, and SQLite starts
/// the WAL over only when a write begins with all of it copied back. So once the WAL holds
/// <see cref="ResetPages"/> pages, the writer runs one checkpoint itself before its next
/// transaction: only the little not yet copied is left to do, and the WAL then starts over.
/// <c>journal_size_limit</c> then trims the file.
/// </para>
/// </remarks>
internal sealed class WalCheckpointer : IDisposable
{
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);

    /// <summary>Default WAL size (in pages) at which the writer finishes a checkpoint itself: 64 MiB of 16 KiB pages.</summary>
    public const int DefaultResetPages = 4096;

    private readonly int _resetPages;

    private readonly SqliteConnection _connection;
    private readonly Thread _thread;
    private readonly ManualResetEventSlim _stop = new();
    private volatile int _walPages;

    public WalCheckpointer(string connectionString, int resetPages)
    {
        _resetPages = resetPages;
        _connection = new SqliteConnection(connectionString);
        _connection.Open();
        using (var command = _connection.CreateCommand())
        {
            // A connection finds the WAL on its first read; until then a checkpoint has nothing to do.
            command.CommandText = "PRAGMA busy_timeout = 10000; SELECT count(*) FROM schema_info;";
            command.ExecuteNonQuery();
        }
        _thread = new Thread(Run) { IsBackground = true, Name = "SQLite checkpoint" };
        _thread.Start();
    }

    /// <summary>Pages in the WAL at the last checkpoint of this thread.</summary>
    public int WalPages => _walPages;

    /// <summary>Checkpoints that failed (other than busy); the store keeps working, the WAL grows until one succeeds.</summary>
    public long Failures { get; private set; }

    /// <summary>Checkpoints done by this thread.</summary>
    public long Checkpoints { get; private set; }

    /// <summary>Called by the writer, between transactions, on its own connection.</summary>
    public void BeforeWrite(sqlite3 writer)
    {
        if (_walPages < _resetPages)
        {
            return;
        }
        int rc = raw.sqlite3_wal_checkpoint_v2(writer, "main", raw.SQLITE_CHECKPOINT_PASSIVE, out int log, out int done);
        if (rc == raw.SQLITE_OK && log == done)
        {
            // All copied back: this write starts the WAL over.
            _walPages = 0;
        }
    }

    private void Run()
    {
        var db = _connection.Handle!;
        while (!_stop.Wait(Interval))
        {
            int rc = raw.sqlite3_wal_checkpoint_v2(db, "main", raw.SQLITE_CHECKPOINT_PASSIVE, out int log, out _);
            if (rc == raw.SQLITE_OK)
            {
                _walPages = log;
                Checkpoints++;
            }
            else if (rc != raw.SQLITE_BUSY && rc != raw.SQLITE_LOCKED)
            {
                Failures++;
            }
        }
    }

    public void Dispose()
    {
        _stop.Set();
        _thread.Join();
        _connection.Dispose();
        _stop.Dispose();
    }
}
