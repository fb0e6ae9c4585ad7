using System.Data.Common;

namespace Sluice.Collector.Reports.Sections;

/// <summary>
/// The identity section (<see cref="ComplianceReport.Identity"/>): account changes, authentication, logins and sessions
/// as user space reports them, and changes to the identity files as the watch rules record them.
/// </summary>
internal sealed class IdentityBuilder(ReportQuery q)
{
    /// <summary>Record types of account and group changes.</summary>
    internal static readonly string[] AccountTypes =
    [
        "ADD_USER", "DEL_USER", "ADD_GROUP", "DEL_GROUP", "USER_CHAUTHTOK", "GRP_CHAUTHTOK", "USER_MGMT", "GRP_MGMT",
        "CHUSER_ID", "CHGRP_ID", "ACCT_LOCK", "ACCT_UNLOCK", "USER_ROLE_CHANGE", "ROLE_ASSIGN", "ROLE_REMOVE",
    ];

    /// <summary>Record types of authentication, login and session events.</summary>
    internal static readonly string[] AuthTypes = ["USER_AUTH", "USER_ACCT", "USER_ERR", "GRP_AUTH", "USER_LOGIN", "USER_LOGOUT", "USER_START", "USER_END"];

    /// <summary>Files whose modification changes who may log in or become root.</summary>
    internal static readonly string[] IdentityFiles = ["/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow", "/etc/security/opasswd", "/etc/sudoers"];

    /// <summary>Directories whose files count as identity files.</summary>
    internal static readonly string[] IdentityDirectories = ["/etc/sudoers.d/"];

    /// <summary>System calls that can modify a file by name; reads are not counted as identity changes.</summary>
    internal static readonly string[] FileChangeSyscalls =
    [
        "open", "openat", "openat2", "creat", "rename", "renameat", "renameat2", "unlink", "unlinkat", "link", "linkat",
        "symlink", "symlinkat", "truncate", "ftruncate", "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown",
        "lchown", "fchownat", "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr",
        "mknod", "mknodat", "utime", "utimes", "utimensat", "futimesat",
    ];

    public async Task<IdentitySection> BuildAsync(CancellationToken ct)
    {
        string[] types = [.. AccountTypes, .. AuthTypes];
        var counts = new List<IdentityCount>();
        var events = new List<IdentityEvent>();

        // User-space messages: by record type.
        await using (var c = q.Command(""))
        {
            c.CommandText = $"""
                SELECT agent, first_type, success, COUNT(*) FROM events
                WHERE time_ms >= @from AND time_ms < @to AND {ReportSql.FirstTypeIn(c, "t", types)}{q.AgentFilter()}
                GROUP BY agent, first_type, success
                """;
            q.Bind(c);
            foreach (var (agent, type, success, n) in await ReportSql.ReadAsync(c, r => (ReportSql.Long(r, 0), r.GetString(1), ReportSql.NullableBool(r, 2), ReportSql.Long(r, 3)), ct))
            {
                counts.Add(new IdentityCount(q.AgentId(agent), q.Hostname(agent), Category(type), type, EventResult.Of(success), n));
            }
        }
        await using (var c = q.Command(""))
        {
            c.CommandText = $"""
                SELECT time_ms, agent, first_type, success, auid, uid, exe, COALESCE(argv, comm, key) FROM events
                WHERE time_ms >= @from AND time_ms < @to AND {ReportSql.FirstTypeIn(c, "t", types)}{q.AgentFilter()}
                ORDER BY time_ms, batch_id, ordinal LIMIT {q.Request.MaxRows + 1}
                """;
            q.Bind(c);
            events.AddRange(await ReportSql.ReadAsync(c, r =>
            {
                string type = r.GetString(2);
                return new IdentityEvent(ReportSql.Long(r, 0), q.AgentId(ReportSql.Long(r, 1)), q.Hostname(ReportSql.Long(r, 1)), Category(type), type,
                    EventResult.Of(ReportSql.NullableBool(r, 3)), ReportTime.User(ReportSql.NullableLong(r, 4)), ReportTime.User(ReportSql.NullableLong(r, 5)),
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
                  AND ({PathFilter(c)}){q.AgentFilter()}
                ORDER BY time_ms, batch_id, ordinal
                """;
            q.Bind(c);
            fileEvents = await ReportSql.ReadAsync(c, r =>
                new IdentityEvent(ReportSql.Long(r, 0), q.AgentId(ReportSql.Long(r, 1)), q.Hostname(ReportSql.Long(r, 1)), "identity-file", ReportSql.Text(r, 2),
                    EventResult.Of(ReportSql.NullableBool(r, 3)), ReportTime.User(ReportSql.NullableLong(r, 4)), ReportTime.User(ReportSql.NullableLong(r, 5)),
                    ReportSql.Text(r, 6), Paths(ReportSql.Text(r, 7))), ct);
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
        return new IdentitySection
        {
            Counts = [.. counts.OrderBy(x => x.AgentId, StringComparer.Ordinal).ThenBy(x => x.Category, StringComparer.Ordinal)
                .ThenBy(x => x.Type, StringComparer.Ordinal).ThenBy(x => x.Result, StringComparer.Ordinal)],
            Events = ordered,
            EventsOmitted = total - ordered.Count,
        };
    }

    private static string Category(string type) => type switch
    {
        "USER_AUTH" or "USER_ACCT" or "USER_ERR" or "GRP_AUTH" => "auth",
        "USER_LOGIN" or "USER_LOGOUT" => "login",
        "USER_START" or "USER_END" => "session",
        _ => "account",
    };

    /// <summary>paths is newline-fenced ("\n/etc/passwd\n/etc/passwd+\n"): match whole names, and names under the directories.</summary>
    private static string PathFilter(DbCommand c)
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

    /// <summary>The identity files among an event's paths, comma-separated.</summary>
    private static string Paths(string paths) => string.Join(", ",
        paths.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(p => IdentityFiles.Contains(p) || IdentityDirectories.Any(d => p.StartsWith(d, StringComparison.Ordinal))));
}
