using System.Data.Common;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Storage;

/// <summary>
/// Reads stored events' exact copies for one query: from the row's <c>payload</c> when it holds
/// them (stores written before schema 5), otherwise from the event's chunk (<see cref="EventChunks"/>).
/// </summary>
/// <remarks>
/// Chunks are fetched on a connection of its own (the query's connection is busy with its rows)
/// and kept decompressed, least recently used first out, up to <see cref="CacheBytes"/>: a query
/// in time order reads the events of each agent's current chunks one after the other, so each
/// chunk is fetched and decompressed once.
/// </remarks>
internal sealed class EventPayloadReader(Func<CancellationToken, Task<DbConnection>> open) : IAsyncDisposable
{
    public const long CacheBytes = 64L * 1024 * 1024;

    private readonly Dictionary<(long Batch, int Chunk), LinkedListNode<DecodedChunk>> _cache = [];
    private readonly LinkedList<DecodedChunk> _order = new();
    private readonly Dictionary<DecodedChunk, (long Batch, int Chunk)> _keys = new(ReferenceEqualityComparer.Instance);
    private long _cachedBytes;
    private DbConnection? _connection;
    private DbCommand? _fetch;

    /// <summary>Chunks fetched from the store so far (the rest came from the cache).</summary>
    public int ChunksFetched { get; private set; }

    public async ValueTask<Event> ReadAsync(byte[] payload, long batchId, long ordinal, CancellationToken cancellationToken)
    {
        if (payload.Length > 0)
        {
            return Event.Parser.ParseFrom(payload);
        }
        int chunk = EventChunks.ChunkOf(ordinal);
        if (_cache.TryGetValue((batchId, chunk), out var node))
        {
            _order.Remove(node);
            _order.AddFirst(node);
            return node.Value.Event(EventChunks.IndexInChunk(ordinal));
        }
        var decoded = EventChunks.Decode(await FetchAsync(batchId, chunk, ordinal, cancellationToken), batchId, chunk);
        Remember(batchId, chunk, decoded);
        return decoded.Event(EventChunks.IndexInChunk(ordinal));
    }

    private async Task<byte[]> FetchAsync(long batchId, int chunk, long ordinal, CancellationToken cancellationToken)
    {
        if (_fetch is null)
        {
            _connection = await open(cancellationToken);
            _fetch = _connection.CreateCommand();
            _fetch.CommandText = "SELECT data FROM event_chunks WHERE batch_id = @batch AND chunk = @chunk";
            StoreSql.Add(_fetch, "batch", 0L);
            StoreSql.Add(_fetch, "chunk", 0L);
        }
        _fetch.Parameters[0].Value = batchId;
        _fetch.Parameters[1].Value = (long)chunk;
        ChunksFetched++;
        return await _fetch.ExecuteScalarAsync(cancellationToken) as byte[]
            ?? throw new InvalidDataException($"event {ordinal} of batch {batchId} has no payload in its row, and its chunk {chunk} is not in event_chunks");
    }

    private void Remember(long batchId, int chunk, DecodedChunk decoded)
    {
        _cache[(batchId, chunk)] = _order.AddFirst(decoded);
        _keys[decoded] = (batchId, chunk);
        _cachedBytes += decoded.Size;
        while (_cachedBytes > CacheBytes && _order.Last is { } oldest && oldest != _order.First)
        {
            _order.RemoveLast();
            _cache.Remove(_keys[oldest.Value]);
            _keys.Remove(oldest.Value);
            _cachedBytes -= oldest.Value.Size;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_fetch is not null)
        {
            await _fetch.DisposeAsync();
        }
        if (_connection is not null)
        {
            await _connection.DisposeAsync();
        }
    }
}
