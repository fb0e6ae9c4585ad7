namespace Sluice.Collector.Storage.Sqlite;

public sealed partial class SqliteEventStore
{
    public async Task<EventPage> SearchEventsAsync(EventSearch search, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReaderAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        EventSearchSql.Prepare(command, search,
            contains: (column, p) => $"instr({column}, {p}) > 0",
            endsWith: (column, p) => $"substr({column}, -length({p})) = {p}");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await using var payloads = new EventPayloadReader(async ct => await OpenReaderAsync(ct));
        return await EventSearchSql.ReadAsync(reader, search.Limit, payloads, cancellationToken);
    }
}
