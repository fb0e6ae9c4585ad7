using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Sluice.Collector.Storage;

namespace Sluice.Collector.Dashboard;

/// <summary>The dashboard page and its read-only JSON API, mapped on the collector's port.</summary>
/// <remarks>
/// <list type="bullet">
/// <item><c>GET /</c>, <c>GET /dashboard/{file}</c>: the page, its script and style (embedded).</item>
/// <item><c>GET /api/fleet?from=&amp;to=</c>: every host, last seen, coverage verdict, loss of every kind, delivery (gaps, refusals, interleaving), policy against its group's; the hosts that differ (<c>policy_differing</c>).</item>
/// <item><c>GET /api/hosts/{agentId}?from=&amp;to=</c>: one host's coverage intervals, loss over time, events per hour, recent events.</item>
/// <item><c>GET /api/events?from=&amp;to=&amp;key=&amp;user=&amp;exe=&amp;argv=&amp;agent=&amp;limit=&amp;before=</c>: event search, newest first, by pages.</item>
/// <item><c>GET /api/report?from=&amp;to=&amp;agent=</c>: the whole compliance report.</item>
/// </list>
/// Every API call passes <see cref="DashboardAccess"/> first; a bad parameter is a 400 naming it.
/// </remarks>
internal static partial class DashboardEndpoints
{
    public const int DefaultEventLimit = 100;
    public const int RecentEvents = 20;

    public static void MapDashboard(this WebApplication app, DashboardAccess access)
    {
        var assets = DashboardAssets.Load();
        app.MapGet("/", (HttpContext context) => assets.Serve(context, "index.html"));
        app.MapGet("/dashboard/{name}", (HttpContext context, string name) => assets.Serve(context, name));

        var api = app.MapGroup("/api");
        api.AddEndpointFilter(async (context, next) =>
        {
            if (access.Check(context.HttpContext) is IResult refused)
            {
                return refused;
            }
            try
            {
                return await next(context);
            }
            catch (ApiException e)
            {
                return ApiError.From(e);
            }
        });
        api.MapGet("/events", SearchAsync);
        MapReports(api);
    }

    private static async Task<IResult> SearchAsync(HttpContext context, IEventStore store, TimeProvider time, CancellationToken ct)
    {
        var q = ApiQuery.From(context.Request, "from", "to", "key", "user", "exe", "argv", "agent", "parent_exe", "container", "unit", "limit", "before");
        var (from, to) = q.Range(time);
        var search = new EventSearch
        {
            FromUnixMs = from,
            ToUnixMs = to,
            AgentId = q.Agent(),
            Key = q.Text("key"),
            User = q.User(),
            Exe = q.Text("exe"),
            ArgvContains = q.Text("argv"),
            Context = new ContextFilter(q.Text("parent_exe"), q.Container(), q.Text("unit")),
            Limit = q.Limit(DefaultEventLimit, EventSearch.MaxLimit),
            Before = q.Before(),
        };
        var page = await store.SearchEventsAsync(search, ct);
        return Results.Json(new EventsView(
            ApiQuery.Iso(from), ApiQuery.Iso(to), from, to, search.Limit,
            [.. page.Events.Select(EventView.From)],
            page.Next?.ToString()), DashboardJson.Options);
    }

    static partial void MapReports(RouteGroupBuilder api);
}

/// <summary>A page of found events; <c>next</c> is the <c>before</c> of the following page, null on the last.</summary>
internal sealed record EventsView(string From, string To, long FromUnixMs, long ToUnixMs, int Limit, IReadOnlyList<EventView> Events, string? Next);

/// <summary>One found event as the API shows it.</summary>
internal sealed record EventView(
    string AgentId, string Hostname, string Time, long TimeUnixMs, long Serial, string FirstType, string? Syscall,
    bool? Success, long? Exit, long? Pid, long? Uid, long? Auid, long? Euid, string? UidName, string? AuidName, string? EuidName,
    string? Key, string? Exe, string? Comm, string? Argv,
    [property: System.Text.Json.Serialization.JsonConverter(typeof(ContextJsonConverter))] Sluice.Protocol.V1.ProcessContext? Context)
{
    public static EventView From(EventHit e) => new(
        e.AgentId, e.Hostname, ApiQuery.Iso(e.TimeUnixMs), e.TimeUnixMs, e.Serial, e.FirstType, e.Syscall,
        e.Success, e.Exit, e.Pid, e.Uid, e.Auid, e.Euid, e.UidName, e.AuidName, e.EuidName, e.Key, e.Exe, e.Comm, e.Argv, e.Context);
}

/// <summary>
/// An event's process context as the replay format writes it (<see cref="Sluice.Protocol.Json.EventJsonWriter.WriteContext"/>):
/// byte fields that are not UTF-8 as lone surrogate escapes, which the page shows as U+FFFD, as text.
/// </summary>
internal sealed class ContextJsonConverter : System.Text.Json.Serialization.JsonConverter<Sluice.Protocol.V1.ProcessContext>
{
    public override Sluice.Protocol.V1.ProcessContext Read(ref System.Text.Json.Utf8JsonReader reader, Type typeToConvert, System.Text.Json.JsonSerializerOptions options) =>
        throw new NotSupportedException("the API only writes contexts");

    public override void Write(System.Text.Json.Utf8JsonWriter writer, Sluice.Protocol.V1.ProcessContext value, System.Text.Json.JsonSerializerOptions options) =>
        Sluice.Protocol.Json.EventJsonWriter.WriteContext(writer, value);
}
