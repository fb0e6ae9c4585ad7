using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Sluice.Collector.Reports;
using Sluice.Collector.Storage;

namespace Sluice.Collector.Dashboard;

/// <summary>The API views built from the compliance report: the fleet, one host, the whole report.</summary>
internal static partial class DashboardEndpoints
{
    private const long HourMs = 3_600_000;

    static partial void MapReports(RouteGroupBuilder api)
    {
        api.MapGet("/fleet", FleetAsync);
        api.MapGet("/hosts/{agentId}", HostAsync);
        api.MapGet("/report", ReportAsync);
    }

    /// <summary>Served through <see cref="FleetViewCache"/>: one build at a time per range, and a recent view at once.</summary>
    private static async Task<IResult> FleetAsync(HttpContext context, FleetViewCache views, TimeProvider time, CancellationToken ct)
    {
        var q = ApiQuery.From(context.Request, "from", "to");
        var (from, to) = q.Range(time);
        var range = q.EndsNow ? new FleetRange(q.Has("from") ? from : null, null) : new FleetRange(from, to);
        return await views.GetJsonAsync(range, ct);
    }

    private static async Task<IResult> HostAsync(HttpContext context, string agentId, IEventStore store, TimeProvider time, CancellationToken ct)
    {
        if (!Ingest.BatchValidator.IsValidAgentId(agentId))
        {
            throw new ApiException(StatusCodes.Status400BadRequest, $"agentId: '{agentId}' is not an agent id (1-128 characters of A-Z a-z 0-9 . _ : -)", "agentId");
        }
        var q = ApiQuery.From(context.Request, "from", "to");
        var (from, to) = q.Range(time);
        ComplianceReport report;
        try
        {
            report = await BuildAsync(store, time, from, to, agentId, ct, coverageOnly: true);
        }
        catch (ArgumentException)
        {
            throw new ApiException(StatusCodes.Status404NotFound, $"agentId: no agent '{agentId}' seen before {ApiQuery.Iso(to)}", "agentId");
        }
        var host = report.Coverage.Single(c => c.AgentId == agentId);
        var recent = await store.SearchEventsAsync(new EventSearch { FromUnixMs = from, ToUnixMs = to, AgentId = agentId, Limit = RecentEvents }, ct);

        var events = report.EventsPerHour.Where(h => h.AgentId == agentId).ToDictionary(h => h.HourUnixMs, h => h.Events);
        var loss = report.LossOverTime.Where(h => h.AgentId == agentId).ToDictionary(h => h.HourUnixMs, h => h.Loss);
        var hours = Hours(from, to).ToList();
        return Results.Json(new HostView(
            report.From, report.To, from, to, report.GeneratedAt, report.CoveredTo, report.CoveredToUnixMs, report.CutAtNow, ReportLoss.Kinds, host,
            [.. hours.Select(h => new HourEvents(ApiQuery.Iso(h), h, events.GetValueOrDefault(h)))],
            [.. hours.Select(h => new HourLossPoint(ApiQuery.Iso(h), h, loss.GetValueOrDefault(h) ?? new LossCounts()))],
            [.. recent.Events.Select(EventView.From)]), DashboardJson.Options);
    }

    private static async Task<IResult> ReportAsync(HttpContext context, IEventStore store, TimeProvider time, CancellationToken ct)
    {
        var q = ApiQuery.From(context.Request, "from", "to", "agent");
        var (from, to) = q.Range(time);
        string? agent = q.Agent();
        ComplianceReport report;
        try
        {
            report = await BuildAsync(store, time, from, to, agent, ct);
        }
        catch (ArgumentException) when (agent is not null)
        {
            throw ApiException.BadParameter("agent", $"no agent '{agent}' seen before {ApiQuery.Iso(to)}");
        }
        return Results.Text(ReportJson.Serialize(report), "application/json; charset=utf-8");
    }

    /// <summary>The fleet and host views need only the coverage and the charts; /api/report builds every section.</summary>
    private static Task<ComplianceReport> BuildAsync(IEventStore store, TimeProvider time, long from, long to, string? agent, CancellationToken ct, bool coverageOnly = false) =>
        new ReportBuilder(store, time).BuildAsync(new ReportRequest(from, to, agent, BaselineRulesPath: null) { CoverageOnly = coverageOnly }, ct);

    /// <summary>Every UTC hour that overlaps [from, to): the charts show empty hours too.</summary>
    private static IEnumerable<long> Hours(long from, long to)
    {
        for (long h = Math.DivRem(from, HourMs, out long rem) * HourMs - (rem < 0 ? HourMs : 0); h < to; h += HourMs)
        {
            yield return h;
        }
    }
}

/// <summary>
/// The whole fleet over a range: one row per host, and the report's sums. Coverage ends at <c>covered_to</c>, min(to, now);
/// <c>loss_kinds</c> says how each loss counter counts (which add up to <c>total</c>, which are whole batches).
/// <c>generated_at</c> is when the view was built; <c>age_ms</c> is how old it was when served: 0 for a view built while
/// the request waited, more for one served from <see cref="FleetViewCache"/>.
/// </summary>
internal sealed record FleetView(
    string From, string To, long FromUnixMs, long ToUnixMs, string GeneratedAt, long AgeMs, string CoveredTo, long CoveredToUnixMs, bool CutAtNow,
    IReadOnlyList<LossKind> LossKinds, IReadOnlyList<HostRow> Hosts, CoverageTotals Totals,
    IReadOnlyList<string> PolicyDiffering, IReadOnlyList<GroupPolicyAt> PolicyGroups)
{
    public static FleetView Of(ComplianceReport report) => new(
        report.From, report.To, report.FromUnixMs, report.ToUnixMs, report.GeneratedAt, AgeMs: 0, report.CoveredTo, report.CoveredToUnixMs, report.CutAtNow,
        ReportLoss.Kinds, [.. report.Coverage.Select(HostRow.From)], report.Totals, report.Policy.Differing, report.Policy.Groups);
}

/// <summary>One host in the fleet table: the report's figures for it, loss of every kind and delivery included.</summary>
internal sealed record HostRow(
    string AgentId, string Hostname, long? LastSeenUnixMs, string? LastSeen, string Verdict, bool Complete,
    long ConnectedMs, long DisconnectedMs, long Events, long Batches, long Heartbeats, string RulesHash, LossCounts Loss, HostDelivery Delivery,
    HostPolicy? Policy)
{
    public static HostRow From(HostCoverage c) => new(
        c.AgentId, c.Hostname, c.LastSeenUnixMs, c.LastSeen, c.Verdict, c.Complete,
        c.ConnectedMs, c.DisconnectedMs, c.Events, c.Batches, c.Heartbeats, c.RulesHash, c.Loss, c.Delivery, c.Policy);
}

/// <summary>One host over a range: its coverage (intervals, loss, delivery, rules), a point per hour for each chart, its newest events.</summary>
internal sealed record HostView(
    string From, string To, long FromUnixMs, long ToUnixMs, string GeneratedAt, string CoveredTo, long CoveredToUnixMs, bool CutAtNow,
    IReadOnlyList<LossKind> LossKinds, HostCoverage Host,
    IReadOnlyList<HourEvents> EventsPerHour, IReadOnlyList<HourLossPoint> LossOverTime, IReadOnlyList<EventView> RecentEvents);

internal sealed record HourEvents(string Hour, long HourUnixMs, long Events);

internal sealed record HourLossPoint(string Hour, long HourUnixMs, LossCounts Loss);
