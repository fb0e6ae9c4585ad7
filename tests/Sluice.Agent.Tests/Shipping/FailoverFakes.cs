using System.Collections.Concurrent;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Sluice.Agent.Shipping;
using Sluice.Agent.Spool;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Tests.Shipping;

/// <summary>One store that several fake collectors write to, keyed as the real store is on (epoch, sequence) (one agent): a resend of the same content is a duplicate.</summary>
internal sealed class FakeStore
{
    private long _order;

    public ConcurrentDictionary<(string Epoch, ulong Sequence), byte[]> Batches { get; } = new();

    /// <summary>Every call any fake collector answered, in the order they answered: (collector, sequence, what happened).</summary>
    public ConcurrentQueue<(long Order, string Collector, ulong Sequence, string What)> Log { get; } = new();

    public void Record(string collector, ulong sequence, string what) => Log.Enqueue((Interlocked.Increment(ref _order), collector, sequence, what));

    public Ack Store(SpoolEntry batch)
    {
        string epoch = EventBatch.Parser.ParseFrom(batch.Payload.Span).Epoch;
        byte[] bytes = batch.Payload.ToArray();
        var stored = Batches.GetOrAdd((epoch, batch.Sequence), bytes);
        return new Ack { Sequence = batch.Sequence, Duplicate = !ReferenceEquals(stored, bytes) };
    }
}

/// <summary>
/// A collector behind <see cref="IIngestClient"/>, on a <see cref="FakeStore"/> shared with others, with
/// fault injection: <see cref="Behaviour"/> decides each Send from the sequence and this collector's
/// attempt number for it.
/// </summary>
internal sealed class FakeCollectorClient(string name, FakeStore store) : IIngestClient
{
    private readonly ConcurrentDictionary<ulong, int> _attempts = new();

    public string Name { get; } = name;

    /// <summary>Null stores and acknowledges. Otherwise the delegate may throw, wait, or store first (<see cref="Store"/>) and then throw.</summary>
    public Func<SpoolEntry, int, CancellationToken, Task>? Behaviour { get; set; }

    /// <summary>Thrown by every heartbeat when set.</summary>
    public Func<Exception>? HeartbeatFault { get; set; }

    /// <summary>Sequences this collector was sent, in order, one entry per attempt.</summary>
    public ConcurrentQueue<ulong> Sends { get; } = new();

    /// <summary>Sequences it acknowledged, one entry per ack.</summary>
    public ConcurrentQueue<ulong> Acks { get; } = new();

    public ConcurrentQueue<AgentHeartbeat> Heartbeats { get; } = new();

    public int HeartbeatAttempts;

    public string? Token { get; private set; }

    public int Waiting;

    public SpoolEntry? LastBatch { get; private set; }

    public async Task<Ack> SendAsync(SpoolEntry batch, CancellationToken cancellationToken)
    {
        Sends.Enqueue(batch.Sequence);
        LastBatch = batch;
        int attempt = _attempts.AddOrUpdate(batch.Sequence, 1, static (_, n) => n + 1);
        try
        {
            if (Behaviour is { } behaviour)
            {
                Interlocked.Increment(ref Waiting);
                try
                {
                    await behaviour(batch, attempt, cancellationToken);
                }
                finally
                {
                    Interlocked.Decrement(ref Waiting);
                }
            }
        }
        catch (RpcException e)
        {
            store.Record(Name, batch.Sequence, e.StatusCode.ToString());
            throw;
        }
        var ack = store.Store(batch);
        Acks.Enqueue(batch.Sequence);
        store.Record(Name, batch.Sequence, ack.Duplicate ? "duplicate" : "stored");
        return ack;
    }

    /// <summary>Stores the batch as this collector would before it fails to answer.</summary>
    public void Store(SpoolEntry batch)
    {
        store.Store(batch);
        store.Record(Name, batch.Sequence, "stored, not answered");
    }

    public Task<HeartbeatReply> HeartbeatAsync(AgentHeartbeat heartbeat, TimeSpan timeout, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref HeartbeatAttempts);
        if (HeartbeatFault?.Invoke() is { } fault)
        {
            return Task.FromException<HeartbeatReply>(fault);
        }
        Heartbeats.Enqueue(heartbeat);
        return Task.FromResult(new HeartbeatReply());
    }

    public void SetToken(string token) => Token = token;

    public static RpcException Status(StatusCode code, string detail = "scripted") => new(new Grpc.Core.Status(code, detail));
}

/// <summary>Keeps every log line written, for tests that check what an operator would read.</summary>
internal sealed class ListLogger<T> : ILogger<T>
{
    public ConcurrentQueue<(LogLevel Level, EventId Id, string Message)> Lines { get; } = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Lines.Enqueue((logLevel, eventId, formatter(state, exception)));
}
