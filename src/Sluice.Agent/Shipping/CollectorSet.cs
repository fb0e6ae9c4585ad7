using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;
using Sluice.Agent.Spool;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Shipping;

/// <summary>
/// The collectors of <see cref="ShipperOptions.CollectorsInOrder"/> and which of them is up: the endpoint
/// selector of health-aware failover. Each attempt goes to the first collector in the list that is
/// up, or whose down time has run out (that attempt is its probe); when every one is down, to the one
/// whose down time ends first, so a single collector is retried exactly as before (the retry's own
/// backoff paces it). A transient failure (<see cref="ShippingResilience.ShouldRetry"/>) marks the
/// collector down for a backoff that doubles with each failed probe (RetryBaseDelay to RetryMaxDelay)
/// or for the server's pushback or the breaker's break; a success marks it up. Other answers
/// (refusals, credentials) change nothing here: the shipper handles them as with one collector.
/// </summary>
/// <remarks>
/// Also the <see cref="IIngestClient"/> of the heartbeats (<see cref="Shipper.Transport"/>): a
/// heartbeat goes to the collector the next batch would go to, and to the next one up when that fails
/// transiently.
/// </remarks>
internal sealed partial class CollectorSet : IIngestClient, IDisposable
{
    private readonly Lock _lock = new();
    private readonly CollectorEndpoint[] _endpoints;
    private readonly IDisposable[] _owned;
    private readonly ShipperOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    /// <param name="clients">One client per URL of <see cref="ShipperOptions.CollectorsInOrder"/>, in the same order.</param>
    /// <param name="owned">What <see cref="Dispose"/> disposes (the clients this set made).</param>
    public CollectorSet(ShipperOptions options, IReadOnlyList<IIngestClient> clients, IReadOnlyList<IDisposable> owned, TimeProvider time, ILogger? logger = null)
    {
        var urls = options.CollectorsInOrder();
        if (clients.Count != urls.Count)
        {
            throw new ArgumentException($"{clients.Count} clients for {urls.Count} collector URLs", nameof(clients));
        }
        _options = options;
        _time = time;
        _logger = logger ?? NullLogger.Instance;
        _owned = [.. owned];
        var now = time.GetUtcNow();
        _endpoints = new CollectorEndpoint[urls.Count];
        for (int i = 0; i < urls.Count; i++)
        {
            var breaker = new CircuitBreakerStateProvider();
            _endpoints[i] = new CollectorEndpoint(i, urls[i], clients[i], ShippingResilience.CreateForCollector(options, time, breaker), breaker, now);
        }
    }

    /// <summary>A gRPC client for each collector of <paramref name="options"/>, owned by the set.</summary>
    public static CollectorSet Create(ShipperOptions options, TimeProvider time, ILogger? logger = null)
    {
        var transports = new List<IngestTransport>();
        try
        {
            foreach (string url in options.CollectorsInOrder())
            {
                transports.Add(IngestTransport.Create(options, url));
            }
        }
        catch
        {
            transports.ForEach(t => t.Dispose());
            throw;
        }
        return new CollectorSet(options, transports, transports, time, logger);
    }

    public IReadOnlyList<CollectorEndpoint> Endpoints => _endpoints;

    /// <summary>
    /// The collector for the next attempt: the first that is up or due for a probe; when all are
    /// down, the one whose down time ends first.
    /// </summary>
    public CollectorEndpoint Select()
    {
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            return SelectLocked(now);
        }
    }

    private CollectorEndpoint SelectLocked(DateTimeOffset now)
    {
        CollectorEndpoint? soonest = null;
        foreach (var e in _endpoints)
        {
            if (!e.Down || e.RetryAt <= now)
            {
                return e;
            }
            if (soonest is null || e.RetryAt < soonest.RetryAt)
            {
                soonest = e;
            }
        }
        return soonest!;
    }

    /// <summary>True when an attempt now would go to a collector that is up or due for a probe.</summary>
    public bool AnyAvailable
    {
        get
        {
            var now = _time.GetUtcNow();
            lock (_lock)
            {
                return Array.Exists(_endpoints, e => !e.Down || e.RetryAt <= now);
            }
        }
    }

    /// <summary>
    /// One attempt to send <paramref name="batch"/> to <paramref name="endpoint"/>, through its breaker
    /// and timeout; its outcome updates the collector's health and counters. Throws what the attempt
    /// threw.
    /// </summary>
    public async Task<Ack> SendAsync(CollectorEndpoint endpoint, SpoolEntry batch, CancellationToken cancellationToken)
    {
        var started = _time.GetUtcNow();
        Interlocked.Increment(ref endpoint.Attempts);
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        try
        {
            var ack = await endpoint.Pipeline.ExecuteAsync(
                static (ctx, state) => new ValueTask<Ack>(state.Client.SendAsync(state.Batch, ctx.CancellationToken)),
                context,
                (endpoint.Client, Batch: batch)).ConfigureAwait(false);
            Succeeded(endpoint, started);
            Interlocked.Increment(ref endpoint.AckedBatches);
            Interlocked.Add(ref endpoint.AckedEvents, batch.EventCount);
            if (ack.Duplicate)
            {
                Interlocked.Increment(ref endpoint.DuplicateAcks);
            }
            return ack;
        }
        catch (Exception e) when (ShippingResilience.ShouldRetry(e) && !cancellationToken.IsCancellationRequested)
        {
            Interlocked.Increment(ref endpoint.Failures);
            Failed(endpoint, Describe(e), ShippingResilience.ServerDelay(e));
            throw;
        }
        catch (RpcException e)
        {
            Interlocked.Increment(ref endpoint.Failures);
            RecordError(endpoint, Describe(e));
            throw;
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>Sends one batch to the collector <see cref="Select"/> names, without retry (for measurements; the shipper uses the overload that names the collector).</summary>
    public Task<Ack> SendAsync(SpoolEntry batch, CancellationToken cancellationToken) => SendAsync(Select(), batch, cancellationToken);

    /// <summary>
    /// Sends the heartbeat to the collector the next batch would go to; when that fails transiently,
    /// marks it down and tries the next one up, each collector at most once. Throws the last failure.
    /// </summary>
    public async Task<HeartbeatReply> HeartbeatAsync(AgentHeartbeat heartbeat, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var tried = new HashSet<CollectorEndpoint>();
        while (true)
        {
            var endpoint = Select();
            tried.Add(endpoint);
            var started = _time.GetUtcNow();
            try
            {
                var reply = await endpoint.Client.HeartbeatAsync(heartbeat, timeout, cancellationToken).ConfigureAwait(false);
                Interlocked.Increment(ref endpoint.Heartbeats);
                Succeeded(endpoint, started);
                return reply;
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && (e is OperationCanceledException || ShippingResilience.IsTransient(e)))
            {
                Interlocked.Increment(ref endpoint.HeartbeatFailures);
                Failed(endpoint, "heartbeat: " + (e is OperationCanceledException ? $"no answer within {timeout}" : Describe(e)), ShippingResilience.ServerDelay(e));
                if (!AnyAvailable || tried.Contains(Select()))
                {
                    throw;
                }
            }
            catch (RpcException e)
            {
                Interlocked.Increment(ref endpoint.HeartbeatFailures);
                RecordError(endpoint, "heartbeat: " + Describe(e));
                throw;
            }
        }
    }

    /// <summary>The bearer token for every collector's calls from now on.</summary>
    public void SetToken(string token)
    {
        foreach (var e in _endpoints)
        {
            e.Client.SetToken(token);
        }
    }

    /// <summary>
    /// Records that <paramref name="endpoint"/> refused this agent's credentials (it stays up: the
    /// shipper stalls as with one collector). Returns another collector that accepted them since its
    /// own last failure, if there is one: then the refusal is that collector's, worth saying so.
    /// </summary>
    public CollectorEndpoint? CredentialsRefused(CollectorEndpoint endpoint, string error)
    {
        RecordError(endpoint, error);
        lock (_lock)
        {
            return Array.Find(_endpoints, e => e != endpoint && !e.Down && e.LastSuccessAt is { } ok && (e.LastErrorAt is not { } failed || ok > failed));
        }
    }

    /// <summary>Counts a batch <paramref name="endpoint"/> refused (quarantined) and records why.</summary>
    public void BatchRefused(CollectorEndpoint endpoint, string error)
    {
        Interlocked.Increment(ref endpoint.Refused);
        RecordError(endpoint, error);
    }

    /// <summary>Each collector's state and counters, in list order; the one the next attempt goes to is marked current.</summary>
    public IReadOnlyList<CollectorStatus> Status
    {
        get
        {
            var now = _time.GetUtcNow();
            lock (_lock)
            {
                var current = SelectLocked(now);
                return [.. _endpoints.Select(e => new CollectorStatus
                {
                    Url = e.Url,
                    State = e.Down ? (e.RetryAt <= now ? "probe due" : "down") : "up",
                    Current = e == current,
                    Since = e.Since,
                    RetryAt = e.Down ? e.RetryAt : null,
                    ConsecutiveFailures = e.ConsecutiveFailures,
                    LastError = e.LastError,
                    LastErrorAt = e.LastErrorAt,
                    LastSuccessAt = e.LastSuccessAt,
                    Breaker = e.Breaker.CircuitState switch
                    {
                        CircuitState.Closed => "closed",
                        CircuitState.HalfOpen => "half-open",
                        _ => "open",
                    },
                    Attempts = Interlocked.Read(ref e.Attempts),
                    Failures = Interlocked.Read(ref e.Failures),
                    AckedBatches = Interlocked.Read(ref e.AckedBatches),
                    AckedEvents = Interlocked.Read(ref e.AckedEvents),
                    DuplicateAcks = Interlocked.Read(ref e.DuplicateAcks),
                    RefusedBatches = Interlocked.Read(ref e.Refused),
                    Heartbeats = Interlocked.Read(ref e.Heartbeats),
                    HeartbeatFailures = Interlocked.Read(ref e.HeartbeatFailures),
                })];
            }
        }
    }

    private void Succeeded(CollectorEndpoint endpoint, DateTimeOffset started)
    {
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            endpoint.LastSuccessAt = now;
            // An answer to a call made before the collector went down says nothing about it now.
            if (endpoint.Down && started < endpoint.Since)
            {
                return;
            }
            if (endpoint.Down)
            {
                endpoint.Down = false;
                endpoint.Since = now;
                Log.CollectorUp(_logger, endpoint.Url);
            }
            endpoint.ConsecutiveFailures = 0;
        }
    }

    private void Failed(CollectorEndpoint endpoint, string error, TimeSpan? serverDelay)
    {
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            endpoint.LastError = error;
            endpoint.LastErrorAt = now;
            if (endpoint.Down && now < endpoint.RetryAt)
            {
                // Another attempt in flight learned it first; a longer pushback still counts.
                if (serverDelay is { } longer && now + longer > endpoint.RetryAt)
                {
                    endpoint.RetryAt = now + longer;
                }
                return;
            }
            endpoint.ConsecutiveFailures++;
            var backoff = serverDelay ?? Backoff(endpoint.ConsecutiveFailures);
            bool wasUp = !endpoint.Down;
            endpoint.Down = true;
            endpoint.RetryAt = now + backoff;
            if (wasUp)
            {
                endpoint.Since = now;
            }
            var next = SelectLocked(now);
            string instead = next == endpoint || next.Down && next.RetryAt > now ? "no other collector is up" : "sending to " + next.Url;
            if (wasUp)
            {
                Log.CollectorDown(_logger, endpoint.Url, error, backoff, instead);
            }
            else
            {
                Log.CollectorStillDown(_logger, endpoint.Url, error, backoff, instead);
            }
        }
    }

    private void RecordError(CollectorEndpoint endpoint, string error)
    {
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            endpoint.LastError = error;
            endpoint.LastErrorAt = now;
        }
    }

    // RetryBaseDelay doubled per failed probe, at most RetryMaxDelay.
    private TimeSpan Backoff(int failures)
    {
        double factor = Math.Pow(2, Math.Min(failures - 1, 30));
        var delay = TimeSpan.FromTicks((long)Math.Min(_options.RetryBaseDelay.Ticks * factor, _options.RetryMaxDelay.Ticks));
        return delay < _options.RetryBaseDelay ? _options.RetryBaseDelay : delay;
    }

    /// <summary>An attempt's failure in a few words, as status and the log show it.</summary>
    public string Describe(Exception exception) => exception switch
    {
        RpcException rpc => $"{rpc.StatusCode}: {rpc.Status.Detail}",
        TimeoutRejectedException => $"no answer within {_options.AttemptTimeout}",
        BrokenCircuitException => "circuit open",
        _ => exception.GetType().Name,
    };

    public void Dispose()
    {
        foreach (var d in _owned)
        {
            d.Dispose();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2111, Level = LogLevel.Warning, Message = "Collector {Url} is down ({Error}); next try in {Backoff}; {Instead}")]
        public static partial void CollectorDown(ILogger logger, string url, string error, TimeSpan backoff, string instead);

        [LoggerMessage(EventId = 2112, Level = LogLevel.Information, Message = "Collector {Url} is still down ({Error}); next try in {Backoff}; {Instead}")]
        public static partial void CollectorStillDown(ILogger logger, string url, string error, TimeSpan backoff, string instead);

        [LoggerMessage(EventId = 2113, Level = LogLevel.Information, Message = "Collector {Url} is up again")]
        public static partial void CollectorUp(ILogger logger, string url);
    }
}

/// <summary>One collector in <see cref="ShipperStatus.Collectors"/>: its state as the agent sees it, and its counters since the agent started.</summary>
internal sealed record CollectorStatus
{
    public string Url { get; init; } = "";
    /// <summary>"up", "down" (until <see cref="RetryAt"/>) or "probe due" (down, and the next attempt may go to it).</summary>
    public string State { get; init; } = "";
    /// <summary>The next attempt goes to this collector.</summary>
    public bool Current { get; init; }
    /// <summary>When it went up or down (for one never tried: since the shipper started).</summary>
    public DateTimeOffset Since { get; init; }
    public DateTimeOffset? RetryAt { get; init; }
    public int ConsecutiveFailures { get; init; }
    public string? LastError { get; init; }
    public DateTimeOffset? LastErrorAt { get; init; }
    public DateTimeOffset? LastSuccessAt { get; init; }
    /// <summary>This collector's circuit breaker: "closed", "open" or "half-open".</summary>
    public string Breaker { get; init; } = "";
    public long Attempts { get; init; }
    public long Failures { get; init; }
    public long AckedBatches { get; init; }
    public long AckedEvents { get; init; }
    public long DuplicateAcks { get; init; }
    /// <summary>Batches it refused for good (quarantined).</summary>
    public long RefusedBatches { get; init; }
    public long Heartbeats { get; init; }
    public long HeartbeatFailures { get; init; }
}
