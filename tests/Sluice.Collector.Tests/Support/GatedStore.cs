using System.Reflection;
using Sluice.Collector.Storage;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Tests.Support;

/// <summary>
/// A real store whose <see cref="IEventStore.StoreBatchAsync"/> waits at a gate, so that a test can
/// hold calls in flight inside the collector, see how many got there, and then let them through.
/// Every other member goes straight to the real store (a proxy, so members added to the interface
/// pass through too).
/// </summary>
internal class GatedStore : DispatchProxy
{
    private IEventStore _inner = null!;
    private readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _arrivals = new(0);
    private int _waiting;

    /// <summary>Batches that reached the store and wait at the gate (or passed it).</summary>
    public int Arrived => Volatile.Read(ref _waiting);

    public static (IEventStore Store, GatedStore Gate) Wrap(IEventStore inner)
    {
        var store = Create<IEventStore, GatedStore>();
        var gate = (GatedStore)(object)store;
        gate._inner = inner;
        return (store, gate);
    }

    /// <summary>Waits until <paramref name="count"/> batches in all have arrived.</summary>
    public async Task ArrivedAsync(int count, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(1));
        while (Arrived < count)
        {
            await _arrivals.WaitAsync(cts.Token);
        }
    }

    public void Open() => _open.TrySetResult();

    protected override object? Invoke(MethodInfo? method, object?[]? args)
    {
        if (method!.Name == nameof(IEventStore.StoreBatchAsync))
        {
            return StoreAsync((EventBatch)args![0]!, (long)args[1]!, (CancellationToken)args[2]!);
        }
        try
        {
            return method.Invoke(_inner, args);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            throw e.InnerException;
        }
    }

    private async Task<StoreOutcome> StoreAsync(EventBatch batch, long receivedUnixMs, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _waiting);
        _arrivals.Release();
        await _open.Task.WaitAsync(cancellationToken);
        return await _inner.StoreBatchAsync(batch, receivedUnixMs, cancellationToken);
    }
}
