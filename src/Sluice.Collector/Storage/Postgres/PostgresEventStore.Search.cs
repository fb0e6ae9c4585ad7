namespace Sluice.Collector.Storage.Postgres;

internal sealed partial class PostgresEventStore
{
    public async Task<EventPage> SearchEventsAsync(EventSearch search, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var payloads = new EventPayloadReader(async ct => await _dataSource.OpenConnectionAsync(ct));
        return await EventSearchSql.SearchAsync(connection, Dialect, search, payloads, cancellationToken);
    }
}
