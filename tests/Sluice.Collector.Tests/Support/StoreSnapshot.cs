using Sluice.Collector.Export;
using Sluice.Collector.Storage;

namespace Sluice.Collector.Tests.Support;

/// <summary>Everything a store shows, as text: per-agent stats and every event exported. Equal snapshots mean nothing was touched.</summary>
internal static class StoreSnapshot
{
    public static async Task<string> TakeAsync(IEventStore store)
    {
        var stats = await store.GetAgentStatsAsync(CancellationToken.None);
        using var events = new MemoryStream();
        await EventExporter.ExportAsync(store, new EventQuery(), events, CancellationToken.None);
        return Sluice.Collector.Cli.StatsCommand.ToJson(stats) + System.Text.Encoding.UTF8.GetString(events.ToArray());
    }

    public static async Task<string[]> ExportLinesAsync(IEventStore store, EventQuery? query = null)
    {
        using var events = new MemoryStream();
        await EventExporter.ExportAsync(store, query ?? new EventQuery(), events, CancellationToken.None);
        return System.Text.Encoding.UTF8.GetString(events.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    public static async Task<List<StoredEvent>> EventsAsync(IEventStore store, EventQuery? query = null)
    {
        var list = new List<StoredEvent>();
        await foreach (var e in store.ReadEventsAsync(query ?? new EventQuery(), CancellationToken.None))
        {
            list.Add(e);
        }
        return list;
    }
}
