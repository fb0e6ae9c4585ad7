using Microsoft.Data.Sqlite;
using Npgsql;

namespace Sluice.Collector.Storage;

/// <summary>
/// Tells a store error that the same batch would meet on every retry (permanent: the batch's data) from one that
/// a retry may not meet (transient: the store's state).
/// </summary>
/// <remarks>
/// A permanent error answered as retryable makes the agent resend that batch forever while its spool fills up
/// behind it. So the ingest service refuses a batch with a permanent error as INVALID_ARGUMENT (the agent sets
/// it aside and counts it as loss) and answers anything else UNAVAILABLE, as before.
/// <list type="bullet">
/// <item>PostgreSQL (SQLSTATE, Appendix A): permanent are class 22 (data exception: a value the column cannot
/// hold, NUL in text), 23 (integrity constraint) except 23505 (a unique violation from a concurrent writer: the
/// retry finds the row), 54 (program limit exceeded: an index entry too large, too many columns) and 42 (syntax
/// error or undefined object) except 42501 (insufficient privilege: a grant fixes it) and 42P07/42710 (a table
/// or object created at the same time by another collector). Everything else is transient: 08 connection, 40
/// serialization failure and deadlock, 53 insufficient resources (disk full, out of memory or shared memory,
/// too many connections), 55 lock not available, 57 operator intervention (cancelled, shutting down), 58 I/O, XX.</item>
/// <item>SQLite (primary result code): permanent are SQLITE_TOOBIG, SQLITE_MISMATCH, SQLITE_CONSTRAINT (one writer:
/// no concurrent insert can cause it) and SQLITE_RANGE. Everything else is transient: BUSY, LOCKED, IOERR, FULL,
/// NOMEM, CANTOPEN, CORRUPT (the store's state, not the batch's).</item>
/// <item>Any other exception (a lost connection, a timeout) is transient.</item>
/// </list>
/// </remarks>
internal static class StoreErrors
{
    /// <summary>Longest store message kept in a reason.</summary>
    public const int MaxMessageChars = 300;

    /// <summary>Why the store can never take the batch, naming the store's error; null when a retry may succeed.</summary>
    public static string? Permanent(Exception exception)
    {
        for (Exception? e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case PostgresException pg:
                    return IsPermanent(pg.SqlState) && !IsMissingPartition(pg) ? $"PostgreSQL {pg.SqlState}: {Clip(pg.MessageText)}" : null;
                case SqliteException sqlite:
                    return IsPermanent(sqlite.SqliteErrorCode) ? $"SQLite {Name(sqlite.SqliteErrorCode)}: {Clip(sqlite.Message)}" : null;
            }
        }
        return null;
    }

    /// <summary>
    /// A day partition of events that is not there (any more): a COPY into it by name (42P01, undefined table), or a row
    /// routed through the parent that finds none (23514, "no partition of relation"). A prune dropped it while this
    /// collector still knew it; the store makes it again and retries, and a batch that still meets it is retried by
    /// its agent, never refused: the store's state, not the batch's.
    /// </summary>
    public static bool IsMissingPartition(PostgresException e) =>
        (e.SqlState == PostgresErrorCodes.UndefinedTable && e.MessageText.Contains("events_p", StringComparison.Ordinal))
        || (e.SqlState == PostgresErrorCodes.CheckViolation && e.MessageText.StartsWith("no partition of relation", StringComparison.Ordinal));

    /// <summary>The PostgreSQL part of <see cref="Permanent"/>, by SQLSTATE.</summary>
    public static bool IsPermanent(string sqlState) => sqlState.Length == 5 && sqlState[..2] switch
    {
        "22" or "54" => true,
        "23" => sqlState != PostgresErrorCodes.UniqueViolation,
        "42" => sqlState is not (PostgresErrorCodes.InsufficientPrivilege or PostgresErrorCodes.DuplicateTable or PostgresErrorCodes.DuplicateObject),
        _ => false,
    };

    /// <summary>The SQLite part of <see cref="Permanent"/>, by result code (extended codes are reduced to their primary code).</summary>
    public static bool IsPermanent(int sqliteCode) => (sqliteCode & 0xff) is SqliteToobig or SqliteConstraint or SqliteMismatch or SqliteRange;

    // sqlite3.h primary result codes.
    private const int SqliteToobig = 18, SqliteConstraint = 19, SqliteMismatch = 20, SqliteRange = 25;

    private static string Name(int code) => (code & 0xff) switch
    {
        SqliteToobig => "SQLITE_TOOBIG",
        SqliteConstraint => "SQLITE_CONSTRAINT",
        SqliteMismatch => "SQLITE_MISMATCH",
        SqliteRange => "SQLITE_RANGE",
        _ => $"error {code}",
    };

    private static string Clip(string message) => message.Length <= MaxMessageChars ? message : message[..MaxMessageChars] + "...";
}
