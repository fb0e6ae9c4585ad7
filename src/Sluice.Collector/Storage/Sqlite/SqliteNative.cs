using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Sluice.Collector.Storage.Sqlite;

/// <summary>
/// The few SQLite calls of the writer's per-event loop, made straight into the e_sqlite3 library
/// that Microsoft.Data.Sqlite loads, on the raw statement pointer.
/// </summary>
/// <remarks>
/// Each event binds 24 values. Through SQLitePCL each bind is a P/Invoke with a GC transition and a
/// SafeHandle reference count, and each text is copied by SQLite (SQLITE_TRANSIENT). Here the
/// binds skip the GC transition (they are short and never block) and texts are bound
/// SQLITE_STATIC from a buffer pinned until the row is stepped. <c>sqlite3_step</c> keeps the
/// transition: it may do I/O.
/// </remarks>
internal static unsafe partial class SqliteNative
{
    private const string Library = "e_sqlite3";

    [LibraryImport(Library, EntryPoint = "sqlite3_bind_int64"), SuppressGCTransition, UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int BindInt64(nint statement, int index, long value);

    [LibraryImport(Library, EntryPoint = "sqlite3_bind_null"), SuppressGCTransition, UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int BindNull(nint statement, int index);

    /// <summary>Binds <paramref name="length"/> bytes of UTF-8 at <paramref name="utf8"/>, not copied: they must stay put until the step.</summary>
    [LibraryImport(Library, EntryPoint = "sqlite3_bind_text"), SuppressGCTransition, UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    private static partial int BindText(nint statement, int index, byte* utf8, int length, nint destructor);

    [LibraryImport(Library, EntryPoint = "sqlite3_bind_zeroblob"), SuppressGCTransition, UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int BindZeroBlob(nint statement, int index, int length);

    [LibraryImport(Library, EntryPoint = "sqlite3_step"), UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int Step(nint statement);

    [LibraryImport(Library, EntryPoint = "sqlite3_reset"), SuppressGCTransition, UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    public static partial int Reset(nint statement);

    /// <summary>SQLITE_STATIC: SQLite uses the caller's bytes in place.</summary>
    private const nint Static = 0;

    public static int BindStaticText(nint statement, int index, byte* utf8, int length) => BindText(statement, index, utf8, length, Static);
}
