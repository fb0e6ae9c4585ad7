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
