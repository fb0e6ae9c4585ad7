using System.Globalization;

namespace Sluice.Collector.Storage;

/// <summary>
/// Everything that differs between the SQL of the two stores: column types and table options, byte-order collation,
/// the functions that are spelled differently, and how a parameter is written. Everything else is written once, in
/// the SQL both accept. Each store has one (<see cref="Sqlite"/>, <see cref="Postgres"/>) and exposes it.
/// </summary>
internal sealed class SqlDialect
{
    public static readonly SqlDialect Sqlite = new()
    {
        Kind = StoreKind.Sqlite,
        Id = "INTEGER PRIMARY KEY", Int = "INTEGER", Text = "TEXT", Bool = "INTEGER", Blob = "BLOB",
        // A rowid table: rows carry a payload of hundreds of bytes, which WITHOUT ROWID handles badly.
        // (Measured: WITHOUT ROWID clustered on (time_ms, batch_id, ordinal), which spares the time index, costs more per row.)
        EventsRowId = "id INTEGER PRIMARY KEY,", EventsOptions = "", ChunksOptions = "",
        // SQLite compares text with BINARY unless told otherwise: already byte order.
        BinaryCollation = "",
        Greatest = "max",
        ContainsFormat = "instr({0}, {1}) > 0",
        EndsWithFormat = "substr({0}, -length({1})) = {1}",
        StartsWithFormat = "substr({0}, 1, length({1})) = {1}",
        ParameterFormat = "@{0}",
    };

    public static readonly SqlDialect Postgres = new()
    {
        Kind = StoreKind.Postgres,
        Id = "bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY", Int = "bigint", Text = "text", Bool = "boolean", Blob = "bytea",
        // Partitioned by day on time_ms; partitions events_pYYYYMMDD are created on demand.
        // Indexes declared on the parent are created on every partition.
        EventsRowId = "", EventsOptions = " PARTITION BY RANGE (time_ms)",
        // Chunks are compressed already: out of line without PostgreSQL's own compression attempt.
        ChunksOptions = "ALTER TABLE event_chunks ALTER COLUMN data SET STORAGE EXTERNAL;",
        // The database's collation may be a locale's; text is ordered by bytes, as SQLite does.
        BinaryCollation = " COLLATE \"C\"",
        Greatest = "greatest",
        ContainsFormat = "strpos({0}, {1}) > 0",
        EndsWithFormat = "right({0}, length({1})) = {1}",
        StartsWithFormat = "left({0}, length({1})) = {1}",
        // Positional: Npgsql sends the text as it is, without rewriting named parameters in it.
        ParameterFormat = "${1}",
    };

    private SqlDialect()
    {
    }

    public static SqlDialect For(StoreKind kind) => kind == StoreKind.Postgres ? Postgres : Sqlite;

    public required StoreKind Kind { get; init; }

    /// <summary>The row id column's type and key.</summary>
    public required string Id { get; init; }

    public required string Int { get; init; }

    public required string Text { get; init; }

    public required string Bool { get; init; }

    public required string Blob { get; init; }

    /// <summary>The events table's own row id column, with its comma, or "".</summary>
    public required string EventsRowId { get; init; }

    /// <summary>What follows the events table's column list.</summary>
    public required string EventsOptions { get; init; }

    /// <summary>A statement that follows the event_chunks table, or "".</summary>
    public required string ChunksOptions { get; init; }

    /// <summary>Appended to a text expression in ORDER BY to compare bytes, not locale rules.</summary>
    public required string BinaryCollation { get; init; }

    /// <summary>The function of the larger of two values.</summary>
    public required string Greatest { get; init; }

    // Substring and suffix tests are functions rather than LIKE, because LIKE ignores ASCII case in SQLite and not in
    // PostgreSQL: both stores must find the same rows. {0} is the column, {1} the parameter.
    private string ContainsFormat { get; init; } = "";

    private string EndsWithFormat { get; init; } = "";

    private string StartsWithFormat { get; init; } = "";

    /// <summary>{0} is the parameter's name, {1} its position (from 1).</summary>
    private string ParameterFormat { get; init; } = "";

    public string TypeName(SqlType type) => type switch
    {
        SqlType.Int => Int,
        SqlType.Text => Text,
        SqlType.Bool => Bool,
        SqlType.Blob => Blob,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    /// <summary>SQL true when <paramref name="column"/> contains <paramref name="parameter"/>'s bytes.</summary>
    public string Contains(string column, string parameter) => string.Format(CultureInfo.InvariantCulture, ContainsFormat, column, parameter);

    /// <summary>SQL true when <paramref name="column"/> ends with <paramref name="parameter"/>'s bytes.</summary>
    public string EndsWith(string column, string parameter) => string.Format(CultureInfo.InvariantCulture, EndsWithFormat, column, parameter);

    /// <summary>SQL true when <paramref name="column"/> starts with <paramref name="parameter"/>'s bytes.</summary>
    public string StartsWith(string column, string parameter) => string.Format(CultureInfo.InvariantCulture, StartsWithFormat, column, parameter);

    /// <summary>
    /// A statement whose parameters <paramref name="text"/> writes with the function it is given: each name becomes this
    /// dialect's placeholder, numbered in order of first use, which is the order of <see cref="SqlStatement.Parameters"/>.
    /// </summary>
    public SqlStatement Statement(Func<Func<string, string>, string> text)
    {
        var names = new List<string>();
        string sql = text(name =>
        {
            int position = names.IndexOf(name);
            if (position < 0)
            {
                names.Add(name);
                position = names.Count - 1;
            }
            return string.Format(CultureInfo.InvariantCulture, ParameterFormat, name, position + 1);
        });
        return new SqlStatement(sql, [.. names]);
    }
}

/// <summary>A statement's text in one dialect, and the names of its parameters in the order their values are given.</summary>
internal sealed record SqlStatement(string Text, string[] Parameters);
