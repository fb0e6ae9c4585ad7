using Sluice.Collector.Reports.Sections;
using Sluice.Collector.Storage;

namespace Sluice.Collector.Reports;

/// <summary>Reads each agent's delivery facts: a store's <see cref="IEventStore.GetDeliveryFactsAsync"/>, or a test's own.</summary>
internal delegate Task<IReadOnlyList<DeliveryFacts>> DeliveryFactsReader(DeliveryQuery query, CancellationToken cancellationToken);

/// <summary>Builds a <see cref="ComplianceReport"/> from a store, with SQL bounded by the report's time range.</summary>
/// <remarks>
/// Each section has its own builder (in <c>Reports/Sections</c>), reading through one <see cref="ReportQuery"/>;
/// this class opens the connection, finds the agents in scope, runs the builders and assembles the report.
/// "Now" comes from the <see cref="TimeProvider"/>: the report's generation time, and where coverage of a range
/// that ends in the future stops.
/// </remarks>
internal sealed class ReportBuilder
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

    /// <summary>For any report source, with the delivery facts from <paramref name="deliveryFacts"/> (a test gives its own).</summary>
    internal ReportBuilder(IReportSource source, DeliveryFactsReader deliveryFacts, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(deliveryFacts);
        _source = source;
        _deliveryFacts = deliveryFacts;
        _time = time ?? TimeProvider.System;
    }

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
        var q = new ReportQuery(connection, request, _source.BinaryCollation, coveredTo: Math.Min(request.ToUnixMs, generated));
        await q.ReadAgentsAsync(cancellationToken);
        await q.ReadRetentionAsync(cancellationToken);

        var perHour = await new EventsPerHourBuilder(q).BuildAsync(cancellationToken);
        var coverage = await new CoverageBuilder(q, _deliveryFacts, perHour).BuildAsync(cancellationToken);
        // Always, the dashboard's views included: they name the hosts that differ from their group's policy.
        var policy = await new PolicyBuilder(q).BuildAsync(cancellationToken);
        var byAgent = policy.Hosts.ToDictionary(h => h.AgentId, StringComparer.Ordinal);
        coverage = [.. coverage.Select(h => h with { Policy = byAgent.GetValueOrDefault(h.AgentId) })];
        var report = new ComplianceReport
        {
            FromUnixMs = request.FromUnixMs,
            ToUnixMs = request.ToUnixMs,
            GeneratedAtUnixMs = generated,
            Agent = request.AgentId,
            MaxSilenceMs = request.MaxSilenceMs,
            CoveredToUnixMs = q.CoveredTo,
            PrunedBeforeUnixMs = q.PrunedBefore,
            Coverage = coverage,
            Totals = CoverageTotals.Of(coverage),
            EventsPerHour = perHour,
            LossOverTime = CoverageBuilder.LossOverTime(coverage),
            Policy = policy,
        };
        if (request.CoverageOnly)
        {
            return report;
        }
        return report with
        {
            Privileged = await new PrivilegedBuilder(q).BuildAsync(cancellationToken),
            Identity = await new IdentityBuilder(q).BuildAsync(cancellationToken),
            AccessFailures = await new AccessFailuresBuilder(q).BuildAsync(cancellationToken),
            AuditChanges = await new AuditChangesBuilder(q, coverage).BuildAsync(cancellationToken),
            Baseline = baseline is null ? new BaselineSection() : await new BaselineBuilder(q, baseline).BuildAsync(cancellationToken),
        };
    }
}
