using System.Data.Common;
using Sluice.Collector.Reports;

namespace Sluice.Collector.Storage.Sqlite;

public sealed partial class SqliteEventStore : IReportSource
{
    /// <summary>What this store's SQL says differently from PostgreSQL's.</summary>
    internal SqlDialect Dialect => SqlDialect.Sqlite;

    SqlDialect IReportSource.Dialect => Dialect;

    public async Task<DbConnection> OpenReportConnectionAsync(CancellationToken cancellationToken) => await OpenReaderAsync(cancellationToken);
}
