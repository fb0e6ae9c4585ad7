using System.Data.Common;
using Sluice.Collector.Storage;

namespace Sluice.Collector.Reports;

/// <summary>A store that reports can query: both stores have the same tables and columns (see the collector README).</summary>
/// <remarks>
/// Report SQL is written once, in the SQL both SQLite and PostgreSQL accept, with every query bounded by
/// the report's time range so it uses the time indexes (and, in PostgreSQL, only the day partitions
/// of the range). Aggregation happens in SQL; the builder orders results itself, ordinally, so that
/// both stores give byte-identical reports.
/// </remarks>
internal interface IReportSource
{
    /// <summary>A new open connection for reading; the caller disposes it.</summary>
    Task<DbConnection> OpenReportConnectionAsync(CancellationToken cancellationToken);

    /// <summary>What the store's SQL says its own way (<see cref="SqlDialect"/>).</summary>
    internal SqlDialect Dialect { get; }

    /// <summary>Appended to a text expression in ORDER BY to compare bytes, not locale rules (<see cref="SqlDialect.BinaryCollation"/>).</summary>
    string BinaryCollation => Dialect.BinaryCollation;
}
