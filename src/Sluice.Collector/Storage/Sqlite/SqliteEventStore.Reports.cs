using System.Data.Common;
using Sluice.Collector.Reports;

namespace Sluice.Collector.Storage.Sqlite;

public sealed partial class SqliteEventStore : IReportSource
{
    // SQLite compares text with BINARY unless told otherwise: already byte order.
    public string BinaryCollation => "";

    public async Task<DbConnection> OpenReportConnectionAsync(CancellationToken cancellationToken) => await OpenReaderAsync(cancellationToken);
}
