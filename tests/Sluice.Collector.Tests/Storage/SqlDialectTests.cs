using Sluice.Collector.Storage;

namespace Sluice.Collector.Tests.Storage;

public sealed class SqlDialectTests
{
    [Fact]
    public void Statement_NameUsedTwice_OneParameterInOrderOfFirstUse()
    {
        string Text(Func<string, string> p) => $"VALUES ({p("a")}, {p("now")}, {p("now")}, {p("b")})";

        var sqlite = SqlDialect.Sqlite.Statement(Text);
        var postgres = SqlDialect.Postgres.Statement(Text);

        Assert.Equal("VALUES (@a, @now, @now, @b)", sqlite.Text);
        Assert.Equal("VALUES ($1, $2, $2, $3)", postgres.Text);
        Assert.Equal(["a", "now", "b"], sqlite.Parameters);
        Assert.Equal(["a", "now", "b"], postgres.Parameters);
    }

    [Fact]
    public void For_EachStoreKind_ItsDialect()
    {
        Assert.Same(SqlDialect.Sqlite, SqlDialect.For(StoreKind.Sqlite));
        Assert.Same(SqlDialect.Postgres, SqlDialect.For(StoreKind.Postgres));
        Assert.Equal(StoreKind.Postgres, SqlDialect.Postgres.Kind);
    }
}
