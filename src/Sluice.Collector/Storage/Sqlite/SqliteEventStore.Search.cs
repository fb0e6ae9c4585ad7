namespace Sluice.Collector.Storage.Sqlite;

internal sealed partial class SqliteEventStore
{
    public async Task<EventPage> SearchEventsAsync(EventSearch search, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReaderAsync(cancellationToken);
        await using var payloads = new EventPayloadReader(async ct => await OpenReaderAsync(ct));
        return await EventSearchSql.SearchAsync(connection, Dialect, search, payloads, cancellationToken);
    }
}
