namespace Sluice.Collector.Storage;

/// <summary>The type of a column, which each store names its own way (<see cref="SqlDialect.TypeName"/>).</summary>
internal enum SqlType
{
    Int,
    Text,
    Bool,
    Blob,
}

/// <summary>One column of a table, as the schema declares it.</summary>
/// <param name="Default">The SQL of its DEFAULT, or null for none.</param>
/// <param name="References">The table(column) it references, or null.</param>
/// <param name="Comments">Lines of the SQL comment written above it in the schema.</param>
internal sealed record Column(string Name, SqlType Type, bool NotNull, string? Default = null, string? References = null, string[]? Comments = null)
{
    /// <summary><c>name TYPE [NOT NULL] [REFERENCES t(c)] [DEFAULT x]</c> in <paramref name="d"/>.</summary>
    public string Definition(SqlDialect d) =>
        $"{Name} {d.TypeName(Type)}{(NotNull ? " NOT NULL" : "")}{(References is null ? "" : " REFERENCES " + References)}{(Default is null ? "" : " DEFAULT " + Default)}";

    /// <summary>The columns' definitions in a CREATE TABLE, one a line, each under its comment lines.</summary>
    public static string Definitions(IEnumerable<Column> columns, SqlDialect d) =>
        string.Join(",\n    ", columns.Select(c => string.Concat((c.Comments ?? []).Select(line => $"-- {line}\n    ")) + c.Definition(d)));

    /// <summary>"a, b, c" with an optional prefix per name.</summary>
    public static string List(IEnumerable<Column> columns, string prefix = "") => string.Join(", ", columns.Select(c => prefix + c.Name));
}

/// <summary>A column of a table written one row at a time through parameters: its declaration, and its value in a row.</summary>
internal sealed record TableColumn<TRow>(Column Column, Func<TRow, object?> Value);

/// <summary>
/// A table written one row at a time through parameters (batches, heartbeats): its columns in table order, each with where
/// its value comes from. The schema, the INSERT's column list and the parameter values all come from it.
/// </summary>
/// <remarks>One delegate call and one boxed value per column and row: fine for a row per batch or heartbeat, not for events (<see cref="EventColumns"/>).</remarks>
internal sealed class ColumnTable<TRow>(TableColumn<TRow>[] columns)
{
    private readonly TableColumn<TRow>[] _columns = columns;

    public Column[] Columns { get; } = [.. columns.Select(c => c.Column)];

    public string[] Names { get; } = [.. columns.Select(c => c.Column.Name)];

    /// <summary>The declaration of the column named <paramref name="name"/>.</summary>
    public Column this[string name] => _columns.Single(c => c.Column.Name == name).Column;

    /// <summary><paramref name="row"/>'s values in table order (null for SQL NULL).</summary>
    public object?[] Values(TRow row)
    {
        var values = new object?[_columns.Length];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = _columns[i].Value(row);
        }
        return values;
    }

    /// <summary>An integer column that is never NULL.</summary>
    public static TableColumn<TRow> Int(string name, Func<TRow, long> value, string? defaultValue = null, string? references = null, string[]? comments = null) =>
        new(new Column(name, SqlType.Int, NotNull: true, defaultValue, references, comments), row => value(row));

    /// <summary>An integer column, NULL when the value is.</summary>
    public static TableColumn<TRow> NullableInt(string name, Func<TRow, long?> value) =>
        new(new Column(name, SqlType.Int, NotNull: false), row => value(row));

    /// <summary>A text column that is never NULL.</summary>
    public static TableColumn<TRow> Text(string name, Func<TRow, string> value, string? defaultValue = null, string[]? comments = null) =>
        new(new Column(name, SqlType.Text, NotNull: true, defaultValue, Comments: comments), value);
}
