using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Sluice.Collector.Interop;

/// <summary>Owns a prepared statement (<c>sqlite3_stmt*</c>) on a connection that Microsoft.Data.Sqlite owns.</summary>
/// <remarks>
/// <para>
/// Who owns what. The connection (<c>sqlite3*</c>) comes from <see cref="SqliteConnection.Handle"/>: a
/// <see cref="sqlite3"/>, which is SQLitePCL's own SafeHandle, owned by Microsoft.Data.Sqlite (its pooled inner
/// connection closes it with <c>sqlite3_close_v2</c> when the pool lets it go). It gets no SafeHandle of ours: an
/// owning one would close it a second time, and a non-owning one would keep nothing alive, since the close would
/// still happen when Microsoft.Data.Sqlite releases its own handle. What keeps it alive is a reference on that
/// SafeHandle: each statement takes one when it is prepared and gives it back after <c>sqlite3_finalize</c>, so the
/// connection is not closed under a statement that still uses it, whichever is disposed first, and even when a
/// statement is left to the finalizer. (The runtime does the same for a handle that depends on another. For
/// Microsoft.Data.Sqlite the close is only deferred. SQLite's own <c>sqlite3_close_v2</c> would also keep a closed
/// connection's memory until its last statement is finalized, but only as an unusable "zombie"; the reference means
/// nothing here depends on that.)
/// </para>
/// <para>
/// The statement is ours alone: prepared here, finalized exactly once, by <see cref="ReleaseHandle"/>. Finalize it
/// (dispose) before the connection goes back to the pool, or the statement lives on in the pooled connection.
/// </para>
/// </remarks>
internal sealed class SqliteStatementHandle : SafeHandle
{
    private sqlite3? _db;

    /// <summary>For the interop marshaller, which sets the pointer that <c>sqlite3_prepare_v2</c> returns.</summary>
    public SqliteStatementHandle() : base(invalidHandleValue: 0, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle == 0;

    /// <summary>Compiles <paramref name="sql"/> (one statement) on <paramref name="db"/>.</summary>
    /// <exception cref="SqliteException">SQLite refused it; the message is SQLite's.</exception>
    public static unsafe SqliteStatementHandle Prepare(sqlite3 db, string sql)
    {
        bool added = false;
        db.DangerousAddRef(ref added);
        SqliteStatementHandle? statement = null;
        try
        {
            byte[] utf8 = Encoding.UTF8.GetBytes(sql);
            int rc;
            fixed (byte* text = utf8)
            {
                rc = Sqlite.sqlite3_prepare_v2(db.DangerousGetHandle(), text, utf8.Length, out statement, 0);
            }
            if (rc != Sqlite.SQLITE_OK)
            {
                throw Error(db.DangerousGetHandle(), rc);
            }
            if (statement.IsInvalid)
            {
                throw new ArgumentException("no SQL statement in the text", nameof(sql));
            }
            // The reference taken above is the statement's from now on; ReleaseHandle gives it back.
            statement._db = db;
            added = false;
            return statement;
        }
        catch
        {
            statement?.Dispose();
            throw;
        }
        finally
        {
            if (added)
            {
                db.DangerousRelease();
            }
        }
    }

    /// <summary>
    /// The statement's pointer for a run of calls into <see cref="Sqlite"/>: the statement, and with it its
    /// connection, stays valid until the lease is disposed. One reference count for the run, not one per call.
    /// </summary>
    public Lease Borrow() => new(this);

    /// <summary>SQLite's message for <paramref name="rc"/>, from the statement's connection.</summary>
    public SqliteException Error(int rc)
    {
        using var lease = Borrow();
        return Error(_db!.DangerousGetHandle(), rc);
    }

    private static unsafe SqliteException Error(nint db, int rc) =>
        new(Marshal.PtrToStringUTF8((nint)Sqlite.sqlite3_errmsg(db)) ?? $"SQLite error {rc}", rc);

    protected override bool ReleaseHandle()
    {
        Sqlite.sqlite3_finalize(handle);
        _db?.DangerousRelease();
        return true;
    }

    public readonly ref struct Lease
    {
        private readonly SqliteStatementHandle _statement;

        public Lease(SqliteStatementHandle statement)
        {
            bool added = false;
            statement.DangerousAddRef(ref added);
            _statement = statement;
            Pointer = statement.DangerousGetHandle();
        }

        public nint Pointer { get; }

        public void Dispose() => _statement.DangerousRelease();
    }
}
