using System.Data.Common;

namespace Sluice.Collector.Reports.Sections;

/// <summary>The privileged-commands section (<see cref="ComplianceReport.Privileged"/>): successful executions as root.</summary>
internal sealed class PrivilegedBuilder(ReportQuery q)
{
    /// <summary>System calls that execute a program.</summary>
    internal static readonly string[] ExecSyscalls = ["execve", "execveat"];

    /// <summary>
    /// One pass over the privileged executions, grouped in SQL by host, login user, uid, exe, argv and
    /// parent chain (<c>events.parent_chain</c>, schema 9); the per-user totals and the largest groups are
    /// taken from that stream.
    /// </summary>
    public async Task<PrivilegedSection> BuildAsync(CancellationToken ct)
    {
        var byUser = new Dictionary<(long Agent, long? Auid), long>();
        var top = new List<PrivilegedCommand>();
        long groups = 0;
        int max = q.Request.MaxRows;
        await using (var c = q.Command(""))
        {
            c.CommandText = $"""
                SELECT agent, auid, uid, exe, argv, COUNT(*), MIN(time_ms), MAX(time_ms), parent_chain FROM events
                WHERE time_ms >= @from AND time_ms < @to AND {Where(c)}{q.AgentFilter()}
                GROUP BY agent, auid, uid, exe, argv, parent_chain
                """;
            q.Bind(c);
            await using var r = await c.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
            {
                long agent = ReportSql.Long(r, 0);
                if (q.Agent(agent) is not { } a)
                {
                    continue;
                }
                long? auid = ReportSql.NullableLong(r, 1);
                long n = ReportSql.Long(r, 5);
                byUser[(agent, auid)] = byUser.GetValueOrDefault((agent, auid)) + n;
                groups++;
                var row = new PrivilegedCommand(a.AgentId, a.Hostname, ReportTime.User(auid), ReportTime.User(ReportSql.NullableLong(r, 2)),
                    ReportSql.Text(r, 3), ReportSql.Text(r, 4), n, ReportSql.Long(r, 6), ReportSql.Long(r, 7))
                {
                    ParentChain = ParentChain(r.IsDBNull(8) ? null : r.GetString(8), ReportSql.Text(r, 3)),
                };
                // Keep the largest groups: by count, then earliest, then by text, ordinally (the same from every store).
                int at = top.BinarySearch(row, LargestFirst);
                at = at < 0 ? ~at : at;
                if (at < max)
                {
                    top.Insert(at, row);
                    if (top.Count > max)
                    {
                        top.RemoveAt(max);
                    }
                }
            }
        }
        var users = byUser.Select(kv => new PrivilegedByUser(q.AgentId(kv.Key.Agent), q.Hostname(kv.Key.Agent), ReportTime.User(kv.Key.Auid), kv.Value, IsElevated(kv.Key.Auid) ? kv.Value : 0))
            .OrderBy(x => x.AgentId, StringComparer.Ordinal).ThenBy(x => x.LoginUser, StringComparer.Ordinal).ToList();
        return new PrivilegedSection
        {
            Total = users.Sum(x => x.Commands),
            Elevated = users.Sum(x => x.Elevated),
            ByUser = users,
            Commands = [.. top.OrderBy(x => x.AgentId, StringComparer.Ordinal).ThenBy(x => x.LoginUser, StringComparer.Ordinal)
                .ThenBy(x => x.FirstUnixMs).ThenBy(x => x.Exe, StringComparer.Ordinal).ThenBy(x => x.Argv, StringComparer.Ordinal).ThenBy(x => x.Uid, StringComparer.Ordinal)
                .ThenBy(x => x.ParentChain, StringComparer.Ordinal)],
            CommandsOmitted = groups - top.Count,
        };
    }

    private static readonly Comparer<PrivilegedCommand> LargestFirst = Comparer<PrivilegedCommand>.Create((x, y) =>
    {
        int c = y.Count.CompareTo(x.Count);
        if (c == 0) c = x.FirstUnixMs.CompareTo(y.FirstUnixMs);
        if (c == 0) c = string.CompareOrdinal(x.AgentId, y.AgentId);
        if (c == 0) c = string.CompareOrdinal(x.LoginUser, y.LoginUser);
        if (c == 0) c = string.CompareOrdinal(x.Uid, y.Uid);
        if (c == 0) c = string.CompareOrdinal(x.Exe, y.Exe);
        if (c == 0) c = string.CompareOrdinal(x.Argv, y.Argv);
        if (c == 0) c = string.CompareOrdinal(x.ParentChain, y.ParentChain);
        return c;
    });

    /// <summary>
    /// The command's chain as the report shows it: its ancestry, farthest first, then the command's own exe
    /// (<c>/usr/sbin/sshd → /usr/bin/bash → /usr/bin/sudo</c>); <c>unknown</c> where the agent's process table did
    /// not know a level; <c>unknown (no context)</c> for events the agent sent without one (enrichment off, an agent
    /// before process context, or stored before schema 9).
    /// </summary>
    internal static string ParentChain(string? chain, string exe) =>
        (chain ?? Storage.ContextColumns.Unknown + " (no context)") + Storage.ContextColumns.Arrow + (exe.Length == 0 ? "?" : exe);

    /// <summary>Successful program executions with effective uid 0.</summary>
    private static string Where(DbCommand c)
    {
        ReportSql.Add(c, "yes", true);
        return $"syscall {ReportSql.In(c, "sc", ExecSyscalls)} AND euid = 0 AND success = @yes";
    }

    /// <summary>Login uid 0 is root logged in as root; anything else (unset included) with euid 0 gained root.</summary>
    private static bool IsElevated(long? auid) => auid != 0;
}
