using Sluice.Collector.Storage;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Tests.Support;

/// <summary>A real store behind a test's change: every member goes to <paramref name="inner"/> unless the test overrides it.</summary>
internal abstract class DelegatingStore(IEventStore inner) : IEventStore
{
    public virtual Task InitializeAsync(CancellationToken cancellationToken) => inner.InitializeAsync(cancellationToken);

    public virtual Task<StoreOutcome> StoreBatchAsync(EventBatch batch, long receivedUnixMs, CancellationToken cancellationToken) =>
        inner.StoreBatchAsync(batch, receivedUnixMs, cancellationToken);

    public virtual Task StoreHeartbeatAsync(AgentHeartbeat heartbeat, long receivedUnixMs, CancellationToken cancellationToken) =>
        inner.StoreHeartbeatAsync(heartbeat, receivedUnixMs, cancellationToken);

    public virtual Task StoreHeartbeatAsync(AgentHeartbeat heartbeat, long receivedUnixMs, string group, CancellationToken cancellationToken) =>
        inner.StoreHeartbeatAsync(heartbeat, receivedUnixMs, group, cancellationToken);

    public virtual Task RecordRefusalAsync(BatchRefusal refusal, CancellationToken cancellationToken) => inner.RecordRefusalAsync(refusal, cancellationToken);

    public virtual Task<IReadOnlyList<DeliveryFacts>> GetDeliveryFactsAsync(DeliveryQuery query, CancellationToken cancellationToken) =>
        inner.GetDeliveryFactsAsync(query, cancellationToken);

    public virtual Task<IReadOnlyList<AgentStats>> GetAgentStatsAsync(CancellationToken cancellationToken) => inner.GetAgentStatsAsync(cancellationToken);

    public virtual IAsyncEnumerable<StoredEvent> ReadEventsAsync(EventQuery query, CancellationToken cancellationToken) => inner.ReadEventsAsync(query, cancellationToken);

    public virtual Task<EventPage> SearchEventsAsync(EventSearch search, CancellationToken cancellationToken) => inner.SearchEventsAsync(search, cancellationToken);

    public virtual ValueTask DisposeAsync() => inner.DisposeAsync();
}
