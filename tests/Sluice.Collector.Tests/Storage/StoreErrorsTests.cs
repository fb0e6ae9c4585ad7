using Microsoft.Data.Sqlite;
using Npgsql;
using Sluice.Collector.Storage;
using Sluice.Collector.Tests.Support;
using SQLitePCL;

namespace Sluice.Collector.Tests.Storage;

/// <summary>
/// <see cref="StoreErrors"/> over errors provoked in a real PostgreSQL and a real SQLite, and over constructed
/// <see cref="PostgresException"/>s for the conditions a test cannot bring about (a full disk, shared memory running out).
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class StoreErrorsTests(PostgresFixture pg) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-errors-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task<NpgsqlConnection> PostgresAsync()
    {
        var connection = new NpgsqlConnection(await pg.Cluster.CreateDatabaseAsync());
        await connection.OpenAsync();
        return connection;
    }

    private static async Task<PostgresException> FailAsync(NpgsqlConnection connection, string sql, params object[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var p in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = p });
        }
        return await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteNonQueryAsync());
    }

    [Fact]
    public async Task Permanent_PostgresIndexEntryTooLarge_PermanentNamingSqlState()
    {
        await using var c = await PostgresAsync();
        await using (var setup = new NpgsqlCommand("CREATE TABLE t (x text); CREATE INDEX t_x ON t (x);", c))
        {
            await setup.ExecuteNonQueryAsync();
        }

        // Random hex does not compress below the btree limit: the error of issue case 2.
        var e = await FailAsync(c, "INSERT INTO t SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 400)");

        Assert.Equal("54000", e.SqlState);
        Assert.StartsWith("PostgreSQL 54000: index row", StoreErrors.Permanent(e));
    }

    [Fact]
    public async Task Permanent_PostgresNulInText_Permanent()
    {
        await using var c = await PostgresAsync();

        var e = await FailAsync(c, "SELECT $1::text", "host\0name");

        Assert.Equal("22021", e.SqlState);
        Assert.StartsWith("PostgreSQL 22021: invalid byte sequence for encoding \"UTF8\": 0x00", StoreErrors.Permanent(e));
    }

    [Fact]
    public async Task Permanent_PostgresNotNullAndUndefinedAndSyntax_Permanent()
    {
        await using var c = await PostgresAsync();
        await using (var setup = new NpgsqlCommand("CREATE TABLE t (x text NOT NULL)", c))
        {
            await setup.ExecuteNonQueryAsync();
        }

        var notNull = await FailAsync(c, "INSERT INTO t VALUES (NULL)");
        var undefined = await FailAsync(c, "SELECT * FROM no_such_table");
        var syntax = await FailAsync(c, "SELEC 1");

        Assert.Equal(["23502", "42P01", "42601"], new[] { notNull.SqlState, undefined.SqlState, syntax.SqlState });
        Assert.StartsWith("PostgreSQL 23502: ", StoreErrors.Permanent(notNull));
        Assert.StartsWith("PostgreSQL 42P01: relation \"no_such_table\" does not exist", StoreErrors.Permanent(undefined));
        Assert.StartsWith("PostgreSQL 42601: ", StoreErrors.Permanent(syntax));
    }

    [Fact]
    public async Task Permanent_PostgresUniqueViolation_Transient()
    {
        // A concurrent writer took the key: the retry finds the row and answers as for a resend.
        await using var c = await PostgresAsync();
        await using (var setup = new NpgsqlCommand("CREATE TABLE t (x int UNIQUE); INSERT INTO t VALUES (1);", c))
        {
            await setup.ExecuteNonQueryAsync();
        }

        var e = await FailAsync(c, "INSERT INTO t VALUES (1)");

        Assert.Equal("23505", e.SqlState);
        Assert.Null(StoreErrors.Permanent(e));
    }

    [Fact]
    public async Task Permanent_PostgresStatementCancelledByTheServer_Transient()
    {
        await using var c = await PostgresAsync();

        var e = await FailAsync(c, "SET statement_timeout = 20; SELECT pg_sleep(5)");

        Assert.Equal("57014", e.SqlState);
        Assert.Null(StoreErrors.Permanent(e));
    }

    [Fact]
    public async Task Permanent_PostgresDeadlock_Transient()
    {
        string cs = await pg.Cluster.CreateDatabaseAsync();
        await using var a = new NpgsqlConnection(cs);
        await using var b = new NpgsqlConnection(cs);
        await a.OpenAsync();
        await b.OpenAsync();
        await using (var setup = new NpgsqlCommand("CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t VALUES (1, 0), (2, 0);", a))
        {
            await setup.ExecuteNonQueryAsync();
        }
        await using var ta = await a.BeginTransactionAsync();
        await using var tb = await b.BeginTransactionAsync();
        await new NpgsqlCommand("UPDATE t SET v = 1 WHERE id = 1", a, ta).ExecuteNonQueryAsync();
        await new NpgsqlCommand("UPDATE t SET v = 1 WHERE id = 2", b, tb).ExecuteNonQueryAsync();

        // Each waits for the other's row: PostgreSQL's deadlock detector cancels one of them.
        var first = new NpgsqlCommand("UPDATE t SET v = 2 WHERE id = 2", a, ta).ExecuteNonQueryAsync();
        var second = new NpgsqlCommand("UPDATE t SET v = 2 WHERE id = 1", b, tb).ExecuteNonQueryAsync();
        var outcomes = await Task.WhenAll(Capture(first), Capture(second));

        var deadlock = Assert.Single(outcomes.OfType<PostgresException>());
        Assert.Equal("40P01", deadlock.SqlState);
        Assert.Null(StoreErrors.Permanent(deadlock));
    }

    private static async Task<Exception?> Capture(Task task)
    {
        try
        {
            await task;
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }

    [Fact]
    public async Task Permanent_PostgresUnreachable_Transient()
    {
        // A port nothing listens on: the connection fails before any SQLSTATE.
        var e = await Assert.ThrowsAsync<NpgsqlException>(async () =>
        {
            await using var c = new NpgsqlConnection("Host=127.0.0.1;Port=1;Username=sluice;Timeout=5");
            await c.OpenAsync();
        });

        Assert.Null(StoreErrors.Permanent(e));
    }

    [Theory]
    [InlineData("22003", true)] // numeric value out of range
    [InlineData("23514", true)] // check violation (a row no partition takes)
    [InlineData("54001", true)] // statement too complex
    [InlineData("42703", true)] // undefined column
    [InlineData("42501", false)] // insufficient privilege: a grant fixes it
    [InlineData("42P07", false)] // duplicate table: another collector created the partition at the same time
    [InlineData("40001", false)] // serialization failure
    [InlineData("53100", false)] // disk full
    [InlineData("53200", false)] // out of memory, out of shared memory
    [InlineData("53300", false)] // too many connections
    [InlineData("08006", false)] // connection failure
    [InlineData("55P03", false)] // lock not available
    [InlineData("57P01", false)] // admin shutdown
    [InlineData("58030", false)] // I/O error
    [InlineData("XX000", false)] // internal error
    public void Permanent_ConstructedPostgresException_ByClass(string sqlState, bool permanent)
    {
        var e = new PostgresException("message of " + sqlState, "ERROR", "ERROR", sqlState);

        Assert.Equal(permanent ? $"PostgreSQL {sqlState}: message of {sqlState}" : null, StoreErrors.Permanent(e));
    }

    [Fact]
    public void Permanent_WrappedAndLongMessage_FoundInsideAndClipped()
    {
        var inner = new PostgresException(new string('m', 1000), "ERROR", "ERROR", "54000");

        string? reason = StoreErrors.Permanent(new InvalidOperationException("outer", inner));

        Assert.Equal("PostgreSQL 54000: " + new string('m', StoreErrors.MaxMessageChars) + "...", reason);
    }

    private SqliteConnection Sqlite(string name = "t.db")
    {
        var c = new SqliteConnection($"Data Source={Path.Combine(_dir, name)}");
        c.Open();
        return c;
    }

    private static SqliteException SqliteFails(SqliteConnection c, string sql)
    {
        using var command = c.CreateCommand();
        command.CommandText = sql;
        return Assert.Throws<SqliteException>(() => command.ExecuteNonQuery());
    }

    [Fact]
    public void Permanent_SqliteTooBigConstraintMismatch_Permanent()
    {
        using var c = Sqlite();
        using (var setup = c.CreateCommand())
        {
            setup.CommandText = "CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT UNIQUE); INSERT INTO t (x) VALUES ('a');";
            setup.ExecuteNonQuery();
        }

        var tooBig = SqliteFails(c, "SELECT zeroblob(2000000000)");
        var constraint = SqliteFails(c, "INSERT INTO t (x) VALUES ('a')");
        var mismatch = SqliteFails(c, "INSERT INTO t (id) VALUES ('not a rowid')");

        Assert.Equal([18, 19, 20], new[] { tooBig.SqliteErrorCode, constraint.SqliteErrorCode, mismatch.SqliteErrorCode });
        Assert.StartsWith("SQLite SQLITE_TOOBIG: ", StoreErrors.Permanent(tooBig));
        Assert.StartsWith("SQLite SQLITE_CONSTRAINT: ", StoreErrors.Permanent(constraint));
        Assert.StartsWith("SQLite SQLITE_MISMATCH: ", StoreErrors.Permanent(mismatch));
    }

    [Fact]
    public void Permanent_SqliteBindOutOfRange_Permanent()
    {
        using var c = Sqlite();
        Assert.Equal(raw.SQLITE_OK, raw.sqlite3_prepare_v2(c.Handle, "SELECT ?", out var statement));
        using (statement)
        {
            int rc = raw.sqlite3_bind_int64(statement, 2, 1);

            var e = Assert.Throws<SqliteException>(() => SqliteException.ThrowExceptionForRC(rc, c.Handle));
            Assert.Equal(25, e.SqliteErrorCode);
            Assert.StartsWith("SQLite SQLITE_RANGE: ", StoreErrors.Permanent(e));
        }
    }

    [Fact]
    public void Permanent_SqliteBusy_Transient()
    {
        using var holder = Sqlite("busy.db");
        using var other = Sqlite("busy.db");
        using (var hold = holder.CreateCommand())
        {
            hold.CommandText = "PRAGMA journal_mode = WAL; CREATE TABLE t (x); BEGIN IMMEDIATE; INSERT INTO t VALUES (1);";
            hold.ExecuteNonQuery();
        }
        raw.sqlite3_busy_timeout(other.Handle, 0);

        int rc = raw.sqlite3_exec(other.Handle, "BEGIN IMMEDIATE", out string? message);

        var e = Assert.Throws<SqliteException>(() => SqliteException.ThrowExceptionForRC(rc, other.Handle));
        Assert.Equal(raw.SQLITE_BUSY, e.SqliteErrorCode);
        Assert.NotNull(message);
        Assert.Null(StoreErrors.Permanent(e));
    }

    [Theory]
    [InlineData(10, false)] // SQLITE_IOERR
    [InlineData(13, false)] // SQLITE_FULL
    [InlineData(11, false)] // SQLITE_CORRUPT: the store's state, not the batch's
    [InlineData(6, false)] // SQLITE_LOCKED
    [InlineData(2067, true)] // SQLITE_CONSTRAINT_UNIQUE, an extended code
    public void Permanent_SqliteByResultCode(int code, bool permanent)
    {
        // As the store's writer raises it (SqliteEventStore.Writer: new SqliteException(sqlite3_errmsg, rc)).
        var e = new SqliteException("message", code);

        Assert.Equal(permanent, StoreErrors.Permanent(e) is not null);
    }

    [Fact]
    public void Permanent_OtherExceptions_Transient()
    {
        Assert.Null(StoreErrors.Permanent(new TimeoutException("slow")));
        Assert.Null(StoreErrors.Permanent(new IOException("reset")));
    }
}
