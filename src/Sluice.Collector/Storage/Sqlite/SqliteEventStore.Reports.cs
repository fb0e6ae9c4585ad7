using System.Data.Common;
using Sluice.Collector.Reports;

namespace Sluice.Collector.Storage.Sqlite;

internal sealed partial class SqliteEventStore : IReportSource
{
    SqlDialect IReportSource.Dialect => Dialect;

    public async Task<DbConnection> OpenReportConnectionAsync(CancellationToken cancellationToken) => await OpenReaderAsync(cancellationToken);
}
