using System.Data.Common;
using Sluice.Collector.Reports;

namespace Sluice.Collector.Storage.Postgres;

public sealed partial class PostgresEventStore : IReportSource
{
    // The database's collation may be a locale's; reports order text by bytes, as SQLite does.
    public string BinaryCollation => " COLLATE \"C\"";

    public async Task<DbConnection> OpenReportConnectionAsync(CancellationToken cancellationToken) => await _dataSource.OpenConnectionAsync(cancellationToken);
}
