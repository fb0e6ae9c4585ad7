using System.Data.Common;

namespace Sluice.Collector.Reports;

public sealed partial class ReportBuilder
{
    /// <summary>System calls that execute a program.</summary>
    public static readonly string[] ExecSyscalls = ["execve", "execveat"];

    /// <summary>Record types of account and group changes.</summary>
    public static readonly string[] AccountTypes =
    [
        "ADD_USER", "DEL_USER", "ADD_GROUP", "DEL_GROUP", "USER_CHAUTHTOK", "GRP_CHAUTHTOK", "USER_MGMT", "GRP_MGMT",
        "CHUSER_ID", "CHGRP_ID", "ACCT_LOCK", "ACCT_UNLOCK", "USER_ROLE_CHANGE", "ROLE_ASSIGN", "ROLE_REMOVE",
    ];

    /// <summary>Record types of authentication, login and session events.</summary>
    public static readonly string[] AuthTypes = ["USER_AUTH", "USER_ACCT", "USER_ERR", "GRP_AUTH", "USER_LOGIN", "USER_LOGOUT", "USER_START", "USER_END"];

    /// <summary>Files whose modification changes who may log in or become root.</summary>
    public static readonly string[] IdentityFiles = ["/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow", "/etc/security/opasswd", "/etc/sudoers"];

    /// <summary>Directories whose files count as identity files.</summary>
    public static readonly string[] IdentityDirectories = ["/etc/sudoers.d/"];

    /// <summary>System calls that can modify a file by name; reads are not counted as identity changes.</summary>
    public static readonly string[] FileChangeSyscalls =
    [
        "open", "openat", "openat2", "creat", "rename", "renameat", "renameat2", "unlink", "unlinkat", "link", "linkat",
        "symlink", "symlinkat", "truncate", "ftruncate", "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown",
        "lchown", "fchownat", "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr",
        "mknod", "mknodat", "utime", "utimes", "utimensat", "futimesat",
    ];

    public static readonly string[] TimeSyscalls = ["settimeofday", "clock_settime", "adjtimex", "clock_adjtime", "stime"];
    public static readonly string[] TimeTypes = ["TIME_ADJNTPVAL", "TIME_INJOFFSET"];
    public static readonly string[] ModuleSyscalls = ["init_module", "finit_module", "delete_module"];
    public static readonly string[] ModuleTypes = ["KERN_MODULE"];
    public static readonly string[] ConfigTypes = ["CONFIG_CHANGE", "DAEMON_START", "DAEMON_END", "DAEMON_ABORT", "DAEMON_CONFIG", "DAEMON_RECONFIG", "DAEMON_ROTATE", "DAEMON_RESUME"];

    /// <summary>-EACCES and -EPERM.</summary>
    public static readonly long[] DeniedExits = [-13, -1];

    private static string Host(Query q, long agent) => q.Agent(agent)?.Hostname ?? "";
    private static string Id(Query q, long agent) => q.Agent(agent)?.AgentId ?? "";

    private static string Result(bool? success) => success switch { true => "success", false => "failed", null => "unknown" };

    /// <summary>
    /// One pass over the privileged executions, grouped in SQL by host, login user, uid, exe and
    /// argv; the per-user totals and the largest groups are taken from that stream.
    /// </summary>
    private async Task<PrivilegedSection> PrivilegedAsync(Query q, CancellationToken ct)
    {
        var byUser = new Dictionary<(long Agent, long? Auid), long>();
        var top = new List<PrivilegedCommand>();
        long groups = 0;
        int max = q.Request.MaxRows;
        await using (var c = q.Command(""))
        {
            c.CommandText = $"""
                SELECT agent, auid, uid, exe, argv, COUNT(*), MIN(time_ms), MAX(time_ms) FROM events
                WHERE time_ms >= @from AND time_ms < @to AND {PrivilegedWhere(c)}{q.AgentFilter()}
                GROUP BY agent, auid, uid, exe, argv
                """;
            Bind(c, q);
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
                    ReportSql.Text(r, 3), ReportSql.Text(r, 4), n, ReportSql.Long(r, 6), ReportSql.Long(r, 7));
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
        var users = byUser.Select(kv => new PrivilegedByUser(Id(q, kv.Key.Agent), Host(q, kv.Key.Agent), ReportTime.User(kv.Key.Auid), kv.Value, IsElevated(kv.Key.Auid) ? kv.Value : 0))
            .OrderBy(x => x.AgentId, StringComparer.Ordinal).ThenBy(x => x.LoginUser, StringComparer.Ordinal).ToList();
        return new PrivilegedSection
        {
            Total = users.Sum(x => x.Commands),
            Elevated = users.Sum(x => x.Elevated),
            ByUser = users,
            Commands = [.. top.OrderBy(x => x.AgentId, StringComparer.Ordinal).ThenBy(x => x.LoginUser, StringComparer.Ordinal)
                .ThenBy(x => x.FirstUnixMs).ThenBy(x => x.Exe, StringComparer.Ordinal).ThenBy(x => x.Argv, StringComparer.Ordinal).ThenBy(x => x.Uid, StringComparer.Ordinal)],
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
        return c;
    });

    /// <summary>Successful program executions with effective uid 0.</summary>
    private static string PrivilegedWhere(DbCommand c)
    {
        ReportSql.Add(c, "yes", true);
        return $"syscall {ReportSql.In(c, "sc", ExecSyscalls)} AND euid = 0 AND success = @yes";
    }

    /// <summary>Login uid 0 is root logged in as root; anything else (unset included) with euid 0 gained root.</summary>
    private static bool IsElevated(long? auid) => auid != 0;

    /// <summary>
    /// The <see cref="ReportRequest.MaxRows"/> largest groups of matching events (by count, then first time),
    /// and how many groups were left out. Columns: agent, the group columns, COUNT, MIN(time), MAX(time).
    /// </summary>
    private static async Task<(List<T> Rows, long Omitted)> TopGroupsAsync<T>(Query q, string groupColumns, Func<DbCommand, string> where,
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
            Bind(c, q);
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
            Bind(c, q);
            long groups = await ScalarAsync(c, ct);
            return (rows, groups - rows.Count);
        }
    }

    private static async Task<long> ScalarAsync(DbCommand c, CancellationToken ct) =>
        Convert.ToInt64(await c.ExecuteScalarAsync(ct) ?? 0L, System.Globalization.CultureInfo.InvariantCulture);

    private static void Bind(DbCommand c, Query q)
    {
        ReportSql.Add(c, "from", q.Request.FromUnixMs);
        ReportSql.Add(c, "to", q.Request.ToUnixMs);
        if (q.AgentRef is long a)
        {
            ReportSql.Add(c, "agent", a);
        }
    }

    private async Task<IdentitySection> IdentityAsync(Query q, CancellationToken ct)
    {
        string[] types = [.. AccountTypes, .. AuthTypes];
        var counts = new List<IdentityCount>();
        var events = new List<IdentityEvent>();
        long omitted = 0;

        // User-space messages: by record type.
        await using (var c = q.Command(""))
        {
            c.CommandText = $"""
                SELECT agent, first_type, success, COUNT(*) FROM events
                WHERE time_ms >= @from AND time_ms < @to AND {ReportSql.FirstTypeIn(c, "t", types)}{q.AgentFilter()}
                GROUP BY agent, first_type, success
                """;
            Bind(c, q);
            foreach (var (agent, type, success, n) in await ReportSql.ReadAsync(c, r => (ReportSql.Long(r, 0), r.GetString(1), ReportSql.NullableBool(r, 2), ReportSql.Long(r, 3)), ct))
            {
                counts.Add(new IdentityCount(Id(q, agent), Host(q, agent), IdentityCategory(type), type, Result(success), n));
            }
        }
        await using (var c = q.Command(""))
        {
            c.CommandText = $"""
                SELECT time_ms, agent, first_type, success, auid, uid, exe, COALESCE(argv, comm, key) FROM events
                WHERE time_ms >= @from AND time_ms < @to AND {ReportSql.FirstTypeIn(c, "t", types)}{q.AgentFilter()}
                ORDER BY time_ms, batch_id, ordinal LIMIT {q.Request.MaxRows + 1}
                """;
            Bind(c, q);
            events.AddRange(await ReportSql.ReadAsync(c, r =>
            {
                string type = r.GetString(2);
                return new IdentityEvent(ReportSql.Long(r, 0), Id(q, ReportSql.Long(r, 1)), Host(q, ReportSql.Long(r, 1)), IdentityCategory(type), type,
                    Result(ReportSql.NullableBool(r, 3)), ReportTime.User(ReportSql.NullableLong(r, 4)), ReportTime.User(ReportSql.NullableLong(r, 5)),
                    ReportSql.Text(r, 6), ReportSql.Text(r, 7));
            }, ct));
        }

        // System calls on identity files, as the watch rules record them.
        var fileEvents = new List<IdentityEvent>();
        await using (var c = q.Command(""))
        {
            c.CommandText = $"""
                SELECT time_ms, agent, syscall, success, auid, uid, exe, paths FROM events
                WHERE time_ms >= @from AND time_ms < @to AND syscall {ReportSql.In(c, "s", FileChangeSyscalls)}
                  AND ({IdentityPathFilter(c)}){q.AgentFilter()}
                ORDER BY time_ms, batch_id, ordinal
                """;
            Bind(c, q);
            fileEvents = await ReportSql.ReadAsync(c, r =>
                new IdentityEvent(ReportSql.Long(r, 0), Id(q, ReportSql.Long(r, 1)), Host(q, ReportSql.Long(r, 1)), "identity-file", ReportSql.Text(r, 2),
                    Result(ReportSql.NullableBool(r, 3)), ReportTime.User(ReportSql.NullableLong(r, 4)), ReportTime.User(ReportSql.NullableLong(r, 5)),
                    ReportSql.Text(r, 6), IdentityPaths(ReportSql.Text(r, 7))), ct);
        }
        foreach (var g in fileEvents.GroupBy(e => (e.AgentId, e.Hostname, e.Type, e.Result)))
        {
            counts.Add(new IdentityCount(g.Key.AgentId, g.Key.Hostname, "identity-file", g.Key.Type, g.Key.Result, g.Count()));
        }
        events.AddRange(fileEvents.Take(q.Request.MaxRows + 1));

        var ordered = events.OrderBy(e => e.TimeUnixMs).ThenBy(e => e.AgentId, StringComparer.Ordinal).ThenBy(e => e.Type, StringComparer.Ordinal)
            .ThenBy(e => e.Detail, StringComparer.Ordinal).ToList();
        long total = counts.Sum(x => x.Count);
        if (ordered.Count > q.Request.MaxRows)
        {
            ordered.RemoveRange(q.Request.MaxRows, ordered.Count - q.Request.MaxRows);
        }
        omitted = total - ordered.Count;
        return new IdentitySection
        {
            Counts = [.. counts.OrderBy(x => x.AgentId, StringComparer.Ordinal).ThenBy(x => x.Category, StringComparer.Ordinal)
                .ThenBy(x => x.Type, StringComparer.Ordinal).ThenBy(x => x.Result, StringComparer.Ordinal)],
            Events = ordered,
            EventsOmitted = omitted,
        };
    }

    private static string IdentityCategory(string type) => type switch
    {
        "USER_AUTH" or "USER_ACCT" or "USER_ERR" or "GRP_AUTH" => "auth",
        "USER_LOGIN" or "USER_LOGOUT" => "login",
        "USER_START" or "USER_END" => "session",
        _ => "account",
    };

    /// <summary>paths is newline-fenced ("\n/etc/passwd\n/etc/passwd+\n"): match whole names, and names under the directories.</summary>
    private static string IdentityPathFilter(DbCommand c)
    {
        var terms = new List<string>();
        int i = 0;
        foreach (var f in IdentityFiles)
        {
            ReportSql.Add(c, "p" + i, "%\n" + f + "\n%");
            terms.Add($"paths LIKE @p{i++}");
        }
        foreach (var d in IdentityDirectories)
        {
            ReportSql.Add(c, "p" + i, "%\n" + d + "%");
            terms.Add($"paths LIKE @p{i++}");
        }
        return string.Join(" OR ", terms);
    }

    private static string IdentityPaths(string paths) => string.Join(", ",
        paths.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(p => IdentityFiles.Contains(p) || IdentityDirectories.Any(d => p.StartsWith(d, StringComparison.Ordinal))));

    private async Task<AccessFailureSection> AccessFailuresAsync(Query q, CancellationToken ct)
    {
        long total;
        await using (var c = q.Command($"SELECT COUNT(*) FROM events WHERE time_ms >= @from AND time_ms < @to AND exit IN (-13, -1){q.AgentFilter()}"))
        {
            total = await ScalarAsync(c, ct);
        }
        var (rows, omitted) = await TopGroupsAsync(q, "auid, uid, exit, paths, exe", _ => "exit IN (-13, -1)",
            r => new AccessFailure(Id(q, ReportSql.Long(r, 0)), Host(q, ReportSql.Long(r, 0)), ReportTime.User(ReportSql.NullableLong(r, 1)),
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
}
