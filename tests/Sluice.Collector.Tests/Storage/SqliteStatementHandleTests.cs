using Microsoft.Data.Sqlite;
using Sluice.Collector.Interop;

namespace Sluice.Collector.Tests.Storage;

/// <summary>The SQLite store writer's own statements (<see cref="SqliteStatementHandle"/>) on connections Microsoft.Data.Sqlite owns.</summary>
public sealed class SqliteStatementHandleTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-statement-").FullName;

    private SqliteConnection Open()
    {
        // Not pooled: disposing the connection closes its sqlite3 handle, unless something still holds it.
        var connection = new SqliteConnection($"Data Source={Path.Combine(_dir, "t.db")};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "CREATE TABLE IF NOT EXISTS t (a INTEGER, b TEXT)";
        command.ExecuteNonQuery();
        return connection;
    }

    [Fact]
    public void Prepare_InvalidSql_ThrowsSqliteExceptionWithSqlitesMessage()
    {
        using var connection = Open();

        var e = Assert.Throws<SqliteException>(() => SqliteStatementHandle.Prepare(connection.Handle!, "INSERT INTO missing VALUES (?)"));

        Assert.Equal(1, e.SqliteErrorCode); // SQLITE_ERROR
        Assert.Contains("no such table: missing", e.Message);
    }

    [Fact]
    public unsafe void Statement_ConnectionDisposedFirst_KeepsTheConnectionOpenUntilFinalized()
    {
        var connection = Open();
        var statement = SqliteStatementHandle.Prepare(connection.Handle!, "INSERT INTO t (a, b) VALUES (?, ?)");
        // SQLitePCL disposes a connection's "extra" object when it closes the connection.
        var closed = connection.Handle!.GetOrCreateExtra(() => new CloseWitness());

        connection.Dispose();

        // Microsoft.Data.Sqlite has let its handle go, but the statement holds a reference on it: the close waits,
        // and the statement still works on the connection.
        Assert.False(closed.Disposed);
        using (var lease = statement.Borrow())
        {
            Assert.Equal(Interop.Sqlite.SQLITE_OK, Interop.Sqlite.sqlite3_bind_int64(lease.Pointer, 1, 42));
            byte[] text = "kept"u8.ToArray();
            fixed (byte* p = text)
            {
                Interop.Sqlite.sqlite3_bind_text(lease.Pointer, 2, p, text.Length, Interop.Sqlite.SQLITE_TRANSIENT);
            }
            Assert.Equal(Interop.Sqlite.SQLITE_DONE, Interop.Sqlite.sqlite3_step(lease.Pointer));
        }
        statement.Dispose();
        Assert.True(closed.Disposed);

        using var reader = Open();
        using var command = reader.CreateCommand();
        command.CommandText = "SELECT a || b FROM t";
        Assert.Equal("42kept", command.ExecuteScalar());
    }

    [Fact]
    public void Error_AfterAFailedStep_CarriesSqlitesCodeAndMessage()
    {
        using var connection = Open();
        using (var create = connection.CreateCommand())
        {
            create.CommandText = "CREATE TABLE u (a INTEGER NOT NULL)";
            create.ExecuteNonQuery();
        }
        using var statement = SqliteStatementHandle.Prepare(connection.Handle!, "INSERT INTO u (a) VALUES (NULL)");

        int rc;
        using (var lease = statement.Borrow())
        {
            rc = Interop.Sqlite.sqlite3_step(lease.Pointer);
            Interop.Sqlite.sqlite3_reset(lease.Pointer);
        }
        var e = statement.Error(rc);

        Assert.Equal(19, e.SqliteErrorCode); // SQLITE_CONSTRAINT
        Assert.Contains("NOT NULL constraint failed: u.a", e.Message);
    }

    private sealed class CloseWitness : IDisposable
    {
        public bool Disposed { get; private set; }

        public void Dispose() => Disposed = true;
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }
}
