using System.Data.Common;
using Sluice.Collector.Reports;
using Sluice.Collector.Storage;

namespace Sluice.Collector.Policy;

/// <summary>A group's central policy as the store holds it.</summary>
/// <param name="Hash">PolicyDigest over <paramref name="Rules"/> and <paramref name="Filters"/>.</param>
/// <param name="SetBy">Who set it: the operator's user name and host, as <c>policy set</c> found them.</param>
internal sealed record GroupPolicy(string Group, string Hash, string Rules, string Filters, long SetUnixMs, string SetBy);

/// <summary>One agent's group and the policy state its last heartbeat reported, with what <c>agents list</c> shows beside it.</summary>
internal sealed record AgentPolicyRow(
    string AgentId, string Hostname, string Group, string Version, long? LastSeenUnixMs, long? LastHeartbeatUnixMs,
    string PolicyHash, string RefusedHash, string Refusal, long? ReportedUnixMs, string Epoch);

/// <summary>The policies and the agents' policy state in a store, read and written with SQL both stores accept.</summary>
/// <remarks>Works on any <see cref="IReportSource"/>: both stores are. Writes are rare (an operator's <c>policy set</c>).</remarks>
internal sealed class PolicyStore(IReportSource source)
{
    /// <summary>The store behind an <see cref="IEventStore"/>, or null for one that cannot answer SQL (a test's).</summary>
    public static PolicyStore? Of(IEventStore store) => store is IReportSource source ? new PolicyStore(source) : null;

    /// <summary>Stores <paramref name="policy"/> as its group's, and in the history. Returns false when that group has it already (nothing written).</summary>
    public async Task<bool> SetAsync(GroupPolicy policy, CancellationToken ct)
    {
        await using var c = await source.OpenReportConnectionAsync(ct);
        await using var tx = await c.BeginTransactionAsync(ct);
        await using (var current = Command(c, tx, "SELECT hash FROM policies WHERE group_name = @group", ("group", policy.Group)))
        {
            if (await current.ExecuteScalarAsync(ct) is string hash && hash == policy.Hash)
            {
                return false;
            }
        }
        await using (var upsert = Command(c, tx, """
            INSERT INTO policies (group_name, hash, rules, filters, set_ms, set_by) VALUES (@group, @hash, @rules, @filters, @set_ms, @set_by)
            ON CONFLICT (group_name) DO UPDATE SET hash = excluded.hash, rules = excluded.rules, filters = excluded.filters,
                set_ms = excluded.set_ms, set_by = excluded.set_by
            """, ("group", policy.Group), ("hash", policy.Hash), ("rules", policy.Rules), ("filters", policy.Filters), ("set_ms", policy.SetUnixMs), ("set_by", policy.SetBy)))
        {
            await upsert.ExecuteNonQueryAsync(ct);
        }
        await using (var history = Command(c, tx, """
            INSERT INTO policy_history (group_name, hash, set_ms, set_by, rules_lines, filters_bytes) VALUES (@group, @hash, @set_ms, @set_by, @lines, @bytes)
            """, ("group", policy.Group), ("hash", policy.Hash), ("set_ms", policy.SetUnixMs), ("set_by", policy.SetBy),
            ("lines", (long)policy.Rules.Split('\n').Count(l => l.Trim().Length > 0 && !l.TrimStart().StartsWith('#'))),
            ("bytes", (long)System.Text.Encoding.UTF8.GetByteCount(policy.Filters))))
        {
            await history.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
        return true;
    }

    /// <summary>Every group's policy hash and set time, without the texts: what the running collector polls.</summary>
    public async Task<IReadOnlyDictionary<string, (string Hash, long SetUnixMs)>> GetHashesAsync(CancellationToken ct)
    {
        await using var c = await source.OpenReportConnectionAsync(ct);
        await using var command = Command(c, null, "SELECT group_name, hash, set_ms FROM policies");
        var rows = await ReportSql.ReadAsync(command, r => (r.GetString(0), r.GetString(1), ReportSql.Long(r, 2)), ct);
        return rows.ToDictionary(r => r.Item1, r => (r.Item2, r.Item3), StringComparer.Ordinal);
    }

    /// <summary>The policies of <paramref name="groups"/> (all when null), with their texts, ordered by group.</summary>
    public async Task<IReadOnlyList<GroupPolicy>> GetPoliciesAsync(IReadOnlyCollection<string>? groups, CancellationToken ct)
    {
        await using var c = await source.OpenReportConnectionAsync(ct);
        await using var command = Command(c, null, "SELECT group_name, hash, rules, filters, set_ms, set_by FROM policies");
        if (groups is not null)
        {
            if (groups.Count == 0)
            {
                return [];
            }
            command.CommandText += " WHERE group_name " + ReportSql.In(command, "g", [.. groups]);
        }
        var rows = await ReportSql.ReadAsync(command, r => new GroupPolicy(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), ReportSql.Long(r, 4), r.GetString(5)), ct);
        rows.Sort((a, b) => string.CompareOrdinal(a.Group, b.Group));
        return rows;
    }

    /// <summary>Every agent with its group, version, last heartbeat, policy state and latest epoch, ordered by agent id.</summary>
    public async Task<IReadOnlyList<AgentPolicyRow>> GetAgentsAsync(CancellationToken ct)
    {
        await using var c = await source.OpenReportConnectionAsync(ct);
        await using var command = Command(c, null, """
            SELECT a.agent_id, a.hostname, a.group_name, a.version, a.last_seen_ms, a.last_heartbeat_ms,
                   a.policy_hash, a.policy_refused_hash, a.policy_refusal, a.policy_reported_ms,
                   (SELECT h.epoch FROM heartbeats h WHERE h.agent = a.id ORDER BY h.time_ms DESC LIMIT 1)
            FROM agents a
            """);
        var rows = await ReportSql.ReadAsync(command, r => new AgentPolicyRow(
            r.GetString(0), r.GetString(1), r.GetString(2), ReportSql.Text(r, 3), ReportSql.NullableLong(r, 4), ReportSql.NullableLong(r, 5),
            r.GetString(6), r.GetString(7), r.GetString(8), ReportSql.NullableLong(r, 9), ReportSql.Text(r, 10)), ct);
        rows.Sort((a, b) => string.CompareOrdinal(a.AgentId, b.AgentId));
        return rows;
    }

    private static DbCommand Command(DbConnection c, DbTransaction? tx, string sql, params (string Name, object Value)[] parameters)
    {
        var command = c.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            ReportSql.Add(command, name, value);
        }
        return command;
    }
}
