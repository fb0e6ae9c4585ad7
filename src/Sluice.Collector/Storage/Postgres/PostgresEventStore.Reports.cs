using System.Data.Common;
using Sluice.Collector.Reports;

namespace Sluice.Collector.Storage.Postgres;

internal sealed partial class PostgresEventStore : IReportSource
{
    SqlDialect IReportSource.Dialect => Dialect;

    public async Task<DbConnection> OpenReportConnectionAsync(CancellationToken cancellationToken) => await _dataSource.OpenConnectionAsync(cancellationToken);
}
