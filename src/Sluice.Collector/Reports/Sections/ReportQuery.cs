using System.Data.Common;
using System.Globalization;

namespace Sluice.Collector.Reports.Sections;

/// <summary>One agent as the report knows it: the store's row id, its id and host.</summary>
internal sealed record ReportAgent(long Ref, string AgentId, string Hostname, long? LastSeenUnixMs);

/// <summary>
/// What every section builder reads through: one report's connection, its request, and the agents in scope.
/// Commands made here bind the range (@from, @to) and the --agent filter (@agent) they use.
/// </summary>
internal sealed class ReportQuery(DbConnection connection, ReportRequest request, string collation, long coveredTo)
{
    public ReportRequest Request { get; } = request;

    /// <summary>Appended to a text expression in ORDER BY to compare bytes (<see cref="IReportSource.BinaryCollation"/>).</summary>
    public string Collation { get; } = collation;

    /// <summary>Where coverage ends: min(to, now).</summary>
    public long CoveredTo { get; } = coveredTo;

    /// <summary>The agents in scope by their row id (<see cref="ReadAgentsAsync"/>).</summary>
    public IReadOnlyDictionary<long, ReportAgent> Agents { get; private set; } = new Dictionary<long, ReportAgent>();

    /// <summary>
    /// Set when the range starts before the retained range: the latest cutoff of any prune (<c>prunes</c>), before which
    /// the store has deleted events. Null when nothing before the range's start was pruned.
    /// </summary>
    public long? PrunedBefore { get; private set; }

    /// <summary>Reads <see cref="PrunedBefore"/>.</summary>
    public async Task ReadRetentionAsync(CancellationToken ct)
    {
        await using var c = Command("SELECT MAX(cutoff_ms) FROM prunes");
        if (await c.ExecuteScalarAsync(ct) is { } value and not DBNull
            && Convert.ToInt64(value, CultureInfo.InvariantCulture) is long cutoff && cutoff > Request.FromUnixMs)
        {
            PrunedBefore = cutoff;
        }
    }

    /// <summary>The row id of the --agent, when the report is for one.</summary>
    public long? AgentRef { get; private set; }

    /// <summary>The agents in scope, in ordinal order of their ids.</summary>
    public IEnumerable<ReportAgent> AgentsInOrder => Agents.Values.OrderBy(a => a.AgentId, StringComparer.Ordinal);

    /// <summary>
    /// Reads the agents in scope: those known before the range ends, and those whose batches cover part of it
    /// though they arrived later (an agent that spooled through an outage delivers the range's events afterwards).
    /// </summary>
    /// <exception cref="ArgumentException">The --agent is not in the store.</exception>
    public async Task ReadAgentsAsync(CancellationToken ct)
    {
        await using var c = Command("""
            SELECT id, agent_id, hostname, last_seen_ms, last_heartbeat_ms FROM agents
            WHERE (first_seen_ms < @to
                OR id IN (SELECT agent FROM batches WHERE interval_start_ms >= @from AND interval_start_ms < @to))
            """ + (Request.AgentId is null ? "" : " AND agent_id = @agent_id"));
        if (Request.AgentId is not null)
        {
            ReportSql.Add(c, "agent_id", Request.AgentId);
        }
        var rows = await ReportSql.ReadAsync(c, r =>
        {
            long? seen = ReportSql.NullableLong(r, 3);
            long? beat = ReportSql.NullableLong(r, 4);
            long? last = seen is null ? beat : beat is null ? seen : Math.Max(seen.Value, beat.Value);
            return new ReportAgent(ReportSql.Long(r, 0), r.GetString(1), r.GetString(2), last);
        }, ct);
        rows.Sort((a, b) => string.CompareOrdinal(a.AgentId, b.AgentId));
        if (Request.AgentId is not null && rows.Count == 0)
        {
            throw new ArgumentException($"--agent '{Request.AgentId}': no such agent in the store");
        }
        Agents = rows.ToDictionary(a => a.Ref);
        if (Request.AgentId is not null)
        {
            AgentRef = rows[0].Ref;
        }
    }

    /// <summary>A command with @from, @to (and @agent when filtered) bound, as far as <paramref name="sql"/> uses them.</summary>
    public DbCommand Command(string sql)
    {
        var c = connection.CreateCommand();
        c.CommandText = sql;
        if (sql.Contains("@from", StringComparison.Ordinal)) ReportSql.Add(c, "from", Request.FromUnixMs);
        if (sql.Contains("@to", StringComparison.Ordinal)) ReportSql.Add(c, "to", Request.ToUnixMs);
        if (AgentRef is long a && sql.Contains("@agent", StringComparison.Ordinal) && !sql.Contains("@agent_id", StringComparison.Ordinal)) ReportSql.Add(c, "agent", a);
        return c;
    }

    /// <summary>Binds @from, @to (and @agent when filtered) to a command whose text is written after it was made.</summary>
    public void Bind(DbCommand c)
    {
        ReportSql.Add(c, "from", Request.FromUnixMs);
        ReportSql.Add(c, "to", Request.ToUnixMs);
        if (AgentRef is long a)
        {
            ReportSql.Add(c, "agent", a);
        }
    }

    /// <summary>" AND agent = @agent" when the report is for one agent, else "".</summary>
    public string AgentFilter(string column = "agent") => AgentRef is null ? "" : $" AND {column} = @agent";

    /// <summary>
    /// "agent IN (1, 2, ...)" over the agents in scope: lets a count by agent and time read only the
    /// (agent, time_ms) index, without visiting the rows. The ids come from the store, not from input.
    /// </summary>
    public string AgentsIn() => Agents.Count == 0
        ? "1 = 0"
        : "agent IN (" + string.Join(", ", Agents.Keys.Order().Select(k => k.ToString(CultureInfo.InvariantCulture))) + ")";

    public ReportAgent? Agent(long agentRef) => Agents.GetValueOrDefault(agentRef);

    /// <summary>The agent id of a row id, or "" for an agent out of scope.</summary>
    public string AgentId(long agentRef) => Agent(agentRef)?.AgentId ?? "";

    /// <summary>The host name of a row id, or "" for an agent out of scope.</summary>
    public string Hostname(long agentRef) => Agent(agentRef)?.Hostname ?? "";
}
