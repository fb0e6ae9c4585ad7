using System.Data.Common;
using System.Globalization;

namespace Sluice.Collector.Reports.Sections;

/// <summary>The access-failures section (<see cref="ComplianceReport.AccessFailures"/>): system calls refused with EACCES or EPERM.</summary>
internal sealed class AccessFailuresBuilder(ReportQuery q)
{
    /// <summary>-EACCES and -EPERM.</summary>
    internal static readonly long[] DeniedExits = [-13, -1];

    /// <summary>"exit IN (-13, -1)".</summary>
    private static readonly string Denied = $"exit IN ({string.Join(", ", DeniedExits.Select(e => e.ToString(CultureInfo.InvariantCulture)))})";

    public async Task<AccessFailureSection> BuildAsync(CancellationToken ct)
    {
        long total;
        await using (var c = q.Command($"SELECT COUNT(*) FROM events WHERE time_ms >= @from AND time_ms < @to AND {Denied}{q.AgentFilter()}"))
        {
            total = await ReportSql.ScalarAsync(c, ct);
        }
        var (rows, omitted) = await TopGroupsAsync("auid, uid, exit, paths, exe", _ => Denied,
            r => new AccessFailure(q.AgentId(ReportSql.Long(r, 0)), q.Hostname(ReportSql.Long(r, 0)), ReportTime.User(ReportSql.NullableLong(r, 1)),
                ReportTime.User(ReportSql.NullableLong(r, 2)), ReportSql.Long(r, 3) == -13 ? "EACCES" : "EPERM",
                string.Join(", ", ReportSql.Text(r, 4).Split('\n', StringSplitOptions.RemoveEmptyEntries)), ReportSql.Text(r, 5),
                ReportSql.Long(r, 6), ReportSql.Long(r, 7), ReportSql.Long(r, 8)),
            ct);
        return new AccessFailureSection
        {
            Total = total,
            Rows = [.. rows.OrderBy(x => x.AgentId, StringComparer.Ordinal).ThenBy(x => x.LoginUser, StringComparer.Ordinal)
                .ThenBy(x => x.Path, StringComparer.Ordinal).ThenBy(x => x.Error, StringComparer.Ordinal).ThenBy(x => x.Exe, StringComparer.Ordinal)
                .ThenBy(x => x.Uid, StringComparer.Ordinal)],
            RowsOmitted = omitted,
        };
    }

    /// <summary>
    /// The <see cref="ReportRequest.MaxRows"/> largest groups of matching events (by count, then first time),
    /// and how many groups were left out. Columns: agent, the group columns, COUNT, MIN(time), MAX(time).
    /// </summary>
    private async Task<(List<T> Rows, long Omitted)> TopGroupsAsync<T>(string groupColumns, Func<DbCommand, string> where,
        Func<DbDataReader, T> row, CancellationToken ct)
    {
        string Sql(DbCommand c) => $"""
            SELECT agent, {groupColumns}, COUNT(*) AS n, MIN(time_ms) AS first_ms, MAX(time_ms) AS last_ms FROM events
            WHERE time_ms >= @from AND time_ms < @to AND {where(c)}{q.AgentFilter()}
            GROUP BY agent, {groupColumns}
            """;
        string order = string.Join(", ", groupColumns.Split(", ").Select(col => col is "auid" or "uid" or "exit" ? col : col + q.Collation));
        List<T> rows;
        await using (var c = q.Command(""))
        {
            c.CommandText = Sql(c) + $" ORDER BY n DESC, first_ms, agent, {order} LIMIT {q.Request.MaxRows + 1}";
            q.Bind(c);
            rows = await ReportSql.ReadAsync(c, row, ct);
        }
        if (rows.Count <= q.Request.MaxRows)
        {
            return (rows, 0);
        }
        rows.RemoveAt(rows.Count - 1);
        await using (var c = q.Command(""))
        {
            c.CommandText = $"SELECT COUNT(*) FROM ({Sql(c)}) g";
            q.Bind(c);
            long groups = await ReportSql.ScalarAsync(c, ct);
            return (rows, groups - rows.Count);
        }
    }
}
