using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Sluice.Collector.Interop;

/// <summary>
/// The SQLite C API (sqlite3.h) that the collector calls itself: the SQLite store's writer prepares its event and
/// chunk inserts here and binds and steps them without SQLitePCL's per-call overhead. Names are kept as in C.
/// </summary>
/// <remarks>
/// <para>
/// The library is e_sqlite3, the one Microsoft.Data.Sqlite loads through SQLitePCLRaw, so these calls act on the
/// connections it opens. Everything else (opening, pragmas, transactions, the other statements, checkpoints) goes
/// through Microsoft.Data.Sqlite and SQLitePCL.
/// </para>
/// <para>
/// The statement functions take the raw <c>sqlite3_stmt*</c>, not a <see cref="SafeHandle"/>: a SafeHandle argument
/// costs a reference count taken and given back (two interlocked operations) on every call, and an event row is 24
/// binds. Callers hold the statement's <see cref="SqliteStatementHandle"/> for the whole run of calls instead
/// (<see cref="SqliteStatementHandle.Borrow"/>). The binds that copy nothing, and the reset, skip the GC transition: they
/// are short and never block. <c>sqlite3_step</c> keeps it: it may do I/O.
/// </para>
/// </remarks>
internal static unsafe partial class Sqlite
{
    public const string Library = "e_sqlite3";

    public const int SQLITE_OK = 0;
    public const int SQLITE_ROW = 100;
    public const int SQLITE_DONE = 101;

    /// <summary>Bound bytes are used in place: they must stay put, unchanged, until the statement is stepped.</summary>
    public const nint SQLITE_STATIC = 0;

    /// <summary>Bound bytes are copied by SQLite before the bind returns.</summary>
    public const nint SQLITE_TRANSIENT = -1;

    [LibraryImport(Library), UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int sqlite3_prepare_v2(nint db, byte* sql, int nByte, out SqliteStatementHandle stmt, nint tail);

    [LibraryImport(Library), UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int sqlite3_finalize(nint stmt);

    /// <summary>The UTF-8 message of the last error on <paramref name="db"/>; SQLite owns the bytes.</summary>
    [LibraryImport(Library), UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial byte* sqlite3_errmsg(nint db);

    [LibraryImport(Library), SuppressGCTransition, UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int sqlite3_bind_int64(nint stmt, int index, long value);

    [LibraryImport(Library), SuppressGCTransition, UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int sqlite3_bind_null(nint stmt, int index);

    /// <param name="destructor"><see cref="SQLITE_STATIC"/> or <see cref="SQLITE_TRANSIENT"/>.</param>
    [LibraryImport(Library), SuppressGCTransition, UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int sqlite3_bind_text(nint stmt, int index, byte* utf8, int length, nint destructor);

    /// <param name="destructor"><see cref="SQLITE_STATIC"/> or <see cref="SQLITE_TRANSIENT"/> (which allocates and copies).</param>
    [LibraryImport(Library), UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int sqlite3_bind_blob(nint stmt, int index, byte* data, int length, nint destructor);

    [LibraryImport(Library), SuppressGCTransition, UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int sqlite3_bind_zeroblob(nint stmt, int index, int length);

    [LibraryImport(Library), UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int sqlite3_step(nint stmt);

    [LibraryImport(Library), SuppressGCTransition, UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int sqlite3_reset(nint stmt);

    [LibraryImport(Library), UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int sqlite3_clear_bindings(nint stmt);
}
