using System.Data.Common;
using Sluice.Collector.Reports;

namespace Sluice.Collector.Storage.Postgres;

public sealed partial class PostgresEventStore : IReportSource
{
    /// <summary>What this store's SQL says differently from SQLite's.</summary>
    internal SqlDialect Dialect => SqlDialect.Postgres;

    SqlDialect IReportSource.Dialect => Dialect;

    public async Task<DbConnection> OpenReportConnectionAsync(CancellationToken cancellationToken) => await _dataSource.OpenConnectionAsync(cancellationToken);
}
