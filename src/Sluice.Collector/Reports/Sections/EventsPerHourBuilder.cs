namespace Sluice.Collector.Reports.Sections;

/// <summary>The events chart: events per host per UTC hour (<see cref="ComplianceReport.EventsPerHour"/>), only hours with events.</summary>
internal sealed class EventsPerHourBuilder(ReportQuery q)
{
    public async Task<IReadOnlyList<HourCount>> BuildAsync(CancellationToken ct)
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
}
