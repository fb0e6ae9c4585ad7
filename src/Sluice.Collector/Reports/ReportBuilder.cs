using System.Data.Common;
using Sluice.Collector.Storage;

namespace Sluice.Collector.Reports;

/// <summary>Reads each agent's delivery facts: a store's <see cref="IEventStore.GetDeliveryFactsAsync"/>, or a test's own.</summary>
public delegate Task<IReadOnlyList<DeliveryFacts>> DeliveryFactsReader(DeliveryQuery query, CancellationToken cancellationToken);

/// <summary>Builds a <see cref="ComplianceReport"/> from a store, with SQL bounded by the report's time range.</summary>
/// <remarks>
/// "Now" comes from the <see cref="TimeProvider"/>: the report's generation time, and where coverage of a range
/// that ends in the future stops.
/// </remarks>
public sealed partial class ReportBuilder
{
    private readonly IReportSource _source;
    private readonly DeliveryFactsReader _deliveryFacts;
    private readonly TimeProvider _time;

    /// <summary>For a store opened through <see cref="StoreLocation"/>: both stores are report sources.</summary>
    /// <exception cref="ArgumentException">The store cannot answer report queries.</exception>
    public ReportBuilder(IEventStore store, TimeProvider? time = null)
        : this(store as IReportSource ?? throw new ArgumentException($"{store?.GetType().Name} cannot answer reports", nameof(store)), store.GetDeliveryFactsAsync, time)
    {
    }

    private ReportBuilder(IReportSource source, DeliveryFactsReader deliveryFacts, TimeProvider? time)
    {
        _source = source;
        _deliveryFacts = deliveryFacts;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>For any report source (a store, or a test's own), with the delivery facts from <paramref name="deliveryFacts"/>.</summary>
    /// <param name="deliveryFacts">Null: the source's own, when it is an <see cref="IEventStore"/>.</param>
    /// <exception cref="ArgumentException">No delivery facts: the source is no store and none were given.</exception>
    public static ReportBuilder ForSource(IReportSource source, TimeProvider? time = null, DeliveryFactsReader? deliveryFacts = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        deliveryFacts ??= source is IEventStore store
            ? store.GetDeliveryFactsAsync
            : throw new ArgumentException($"{source.GetType().Name} is no store: give the delivery facts", nameof(deliveryFacts));
        return new ReportBuilder(source, deliveryFacts, time);
    }

    /// <summary>One agent as the report knows it: the store's row id, its id and host.</summary>
    private sealed record AgentRow(long Ref, string AgentId, string Hostname, long? LastSeenUnixMs);

    /// <summary>Builds the report.</summary>
    /// <exception cref="ArgumentException">A bad range, an unknown --agent, or an unusable baseline file; the message names it.</exception>
    public async Task<ComplianceReport> BuildAsync(ReportRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        // Parse the baseline before touching the store: a bad file is the caller's mistake, found at once.
        var baseline = request.BaselineRulesPath is null ? null : BaselineRules.Load(request.BaselineRulesPath);
        long generated = _time.GetUtcNow().ToUnixTimeMilliseconds();

        await using var connection = await _source.OpenReportConnectionAsync(cancellationToken);
        var q = new Query(connection, request, _source.BinaryCollation) { CoveredTo = Math.Min(request.ToUnixMs, generated) };
        var agents = await ReadAgentsAsync(q, cancellationToken);
        if (request.AgentId is not null && agents.Count == 0)
        {
            throw new ArgumentException($"--agent '{request.AgentId}': no such agent in the store");
        }
        q.Agents = agents.ToDictionary(a => a.Ref);
        if (request.AgentId is not null)
        {
            q.AgentRef = agents[0].Ref;
        }

        var perHour = await EventsPerHourAsync(q, cancellationToken);
        var coverage = await CoverageAsync(q, perHour, cancellationToken);
        var report = new ComplianceReport
        {
            FromUnixMs = request.FromUnixMs,
            ToUnixMs = request.ToUnixMs,
            GeneratedAtUnixMs = generated,
            Agent = request.AgentId,
            MaxSilenceMs = request.MaxSilenceMs,
            CoveredToUnixMs = q.CoveredTo,
            Coverage = coverage,
            Totals = CoverageTotals.Of(coverage),
            EventsPerHour = perHour,
            LossOverTime = LossPerHour(coverage),
        };
        if (request.CoverageOnly)
        {
            return report;
        }
        return report with
        {
            Privileged = await PrivilegedAsync(q, cancellationToken),
            Identity = await IdentityAsync(q, cancellationToken),
            AccessFailures = await AccessFailuresAsync(q, cancellationToken),
            AuditChanges = await AuditChangesAsync(q, coverage, cancellationToken),
            Baseline = baseline is null ? new BaselineSection() : await BaselineAsync(q, baseline, cancellationToken),
        };
    }

    /// <summary>
    /// The agents known before the range ends, and those whose batches cover part of it though they
    /// arrived later: an agent that spooled through an outage delivers the range's events afterwards.
    /// </summary>
    private static async Task<List<AgentRow>> ReadAgentsAsync(Query q, CancellationToken ct)
    {
        await using var c = q.Command("""
            SELECT id, agent_id, hostname, last_seen_ms, last_heartbeat_ms FROM agents
            WHERE (first_seen_ms < @to
                OR id IN (SELECT agent FROM batches WHERE interval_start_ms >= @from AND interval_start_ms < @to))
            """ + (q.Request.AgentId is null ? "" : " AND agent_id = @agent_id"));
        if (q.Request.AgentId is not null)
        {
            ReportSql.Add(c, "agent_id", q.Request.AgentId);
        }
        var rows = await ReportSql.ReadAsync(c, r =>
        {
            long? seen = ReportSql.NullableLong(r, 3);
            long? beat = ReportSql.NullableLong(r, 4);
            long? last = seen is null ? beat : beat is null ? seen : Math.Max(seen.Value, beat.Value);
            return new AgentRow(ReportSql.Long(r, 0), r.GetString(1), r.GetString(2), last);
        }, ct);
        rows.Sort((a, b) => string.CompareOrdinal(a.AgentId, b.AgentId));
        return rows;
    }

    private static async Task<IReadOnlyList<HourCount>> EventsPerHourAsync(Query q, CancellationToken ct)
    {
        await using var c = q.Command($"""
            SELECT agent, time_ms / {ReportTime.HourMs} AS hour, COUNT(*) FROM events
            WHERE {q.AgentsIn()} AND time_ms >= @from AND time_ms < @to
            GROUP BY agent, time_ms / {ReportTime.HourMs}
            """);
        var rows = await ReportSql.ReadAsync(c, r => (Agent: ReportSql.Long(r, 0), Hour: ReportSql.Long(r, 1), N: ReportSql.Long(r, 2)), ct);
        return [.. rows.Where(x => q.Agents.ContainsKey(x.Agent))
            .Select(x => new HourCount(q.Agents[x.Agent].AgentId, x.Hour * ReportTime.HourMs, x.N))
            .OrderBy(x => x.AgentId, StringComparer.Ordinal).ThenBy(x => x.HourUnixMs)];
    }

    /// <summary>One report's connection, request and the agents in scope.</summary>
    private sealed class Query(DbConnection connection, ReportRequest request, string collation)
    {
        public ReportRequest Request { get; } = request;
        public string Collation { get; } = collation;
        /// <summary>Where coverage ends: min(to, now).</summary>
        public long CoveredTo { get; init; } = request.ToUnixMs;
        public Dictionary<long, AgentRow> Agents { get; set; } = [];
        public long? AgentRef { get; set; }

        /// <summary>A command with @from, @to (and @agent when filtered) bound.</summary>
        public DbCommand Command(string sql)
        {
            var c = connection.CreateCommand();
            c.CommandText = sql;
            if (sql.Contains("@from", StringComparison.Ordinal)) ReportSql.Add(c, "from", Request.FromUnixMs);
            if (sql.Contains("@to", StringComparison.Ordinal)) ReportSql.Add(c, "to", Request.ToUnixMs);
            if (AgentRef is long a && sql.Contains("@agent", StringComparison.Ordinal) && !sql.Contains("@agent_id", StringComparison.Ordinal)) ReportSql.Add(c, "agent", a);
            return c;
        }

        public string AgentFilter(string column = "agent") => AgentRef is null ? "" : $" AND {column} = @agent";

        /// <summary>
        /// "agent IN (1, 2, ...)" over the agents in scope: lets a count by agent and time read only the
        /// (agent, time_ms) index, without visiting the rows. The ids come from the store, not from input.
        /// </summary>
        public string AgentsIn() => Agents.Count == 0
            ? "1 = 0"
            : "agent IN (" + string.Join(", ", Agents.Keys.Order().Select(k => k.ToString(System.Globalization.CultureInfo.InvariantCulture))) + ")";

        public AgentRow? Agent(long agentRef) => Agents.GetValueOrDefault(agentRef);
    }
}
