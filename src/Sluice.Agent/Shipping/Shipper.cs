using Grpc.Core;
using GrpcStatus = Grpc.Core.Status;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using Polly.Retry;
using Sluice.Agent.Spool;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Shipping;

/// <summary>
/// Reads the spool in sequence order and sends each batch to a collector through one resilience
/// pipeline, with up to <see cref="ShipperOptions.MaxInFlight"/> calls in flight. Each attempt goes
/// to the collector <see cref="CollectorSet"/> selects (the first one up, in the configured order),
/// so a batch whose collector fails transiently is retried on another. Acknowledgements are applied
/// to the spool strictly in sequence order, whichever collector gave them, so a restart resends from
/// the first batch not known to be stored (at-least-once; the collectors, on one store, deduplicate
/// on (agent, epoch, sequence)). A batch a collector refuses is set aside in the quarantine and
/// reported as loss in the next batch; after ALREADY_EXISTS the spool also starts a new epoch.
/// An ack may pace the agent (<c>Ack.next_send_after_ms</c>): the next Send waits that long after
/// the ack, at most <see cref="MaxPace"/>, with one call in flight until an ack ends the pacing.
/// </summary>
internal sealed class Shipper : IDisposable
{
    private static readonly ResiliencePropertyKey<ulong> SequenceKey = new("sluice.sequence");
    private static readonly ResiliencePropertyKey<CollectorEndpoint> CollectorKey = new("sluice.collector");

    /// <summary>
    /// The longest pace honoured from one ack: a collector that asks for more (a bug, a wrong unit)
    /// still gets a Send this often, so it cannot stop shipping for long. A minute is already far
    /// beyond what a collector aims for (seconds); its batches wait in the spool meanwhile.
    /// </summary>
    internal static readonly TimeSpan MaxPace = TimeSpan.FromSeconds(60);

    private enum OutcomeKind
    {
        Acked,
        Refused,
        AuthenticationFailed,
        Unexpected,
        Cancelled,
        DroppedFromSpool,
    }

    /// <summary>Ends the attempts of a batch the spool dropped while it was in flight (its loss is already reported).</summary>
    private sealed class DroppedFromSpoolException : Exception
    {
    }

    private readonly record struct Outcome(OutcomeKind Kind, Ack? Ack = null, GrpcStatus Status = default, string? Reason = null, string? Url = null);

    private readonly DiskSpool _spool;
    private readonly ShipperOptions _options;
    private readonly CollectorSet _collectors;
    private readonly ResiliencePipeline _pipeline;
    private readonly Quarantine _quarantine;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    private volatile ShipperState _state = ShipperState.Stopped;
    private long _attemptsFailed;
    private long _retries;
    private long _ackedBatches;
    private long _ackedEvents;
    private long _duplicateAcks;
    private long _conflicts;
    private int _inFlight;
    private readonly Lock _errorLock = new();
    private string? _lastError;
    private DateTimeOffset? _lastErrorAt;
    private DateTimeOffset? _lastAckAt;
    private int _running;

    // Pacing by the collector (Ack.next_send_after_ms), as the last applied ack set it: written by
    // the run loop, read by Status; _pacedUntil and _paceMs under _errorLock. _pacedUntil is null
    // when not paced (full window); otherwise no Send starts before it, and one call is in flight.
    private DateTimeOffset? _pacedUntil;
    private uint _paceMs;
    private long _pacedAcks;
    private long _pacedAcksThisTime;

    /// <summary>Creates a shipper for <paramref name="spool"/>, with its own gRPC client for each of <see cref="ShipperOptions.CollectorsInOrder"/>. Validates the options (throws <see cref="Microsoft.Extensions.Options.OptionsValidationException"/>).</summary>
    public Shipper(DiskSpool spool, ShipperOptions options, TimeProvider? time = null, ILogger<Shipper>? logger = null)
        : this(spool, options, clients: null, time, logger)
    {
    }

    /// <summary>Creates a shipper that reaches its one collector through <paramref name="client"/>, which it does not dispose; with null, through its own gRPC clients.</summary>
    internal Shipper(DiskSpool spool, ShipperOptions options, IIngestClient? client, TimeProvider? time = null, ILogger<Shipper>? logger = null)
        : this(spool, options, client is null ? null : [client], time, logger)
    {
    }

    /// <summary>
    /// Creates a shipper that reaches the collectors of <see cref="ShipperOptions.CollectorsInOrder"/> through
    /// <paramref name="clients"/> (one per URL, in order), which it does not dispose; with null, through its own gRPC clients.
    /// </summary>
    internal Shipper(DiskSpool spool, ShipperOptions options, IReadOnlyList<IIngestClient>? clients, TimeProvider? time = null, ILogger<Shipper>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(spool);
        ArgumentNullException.ThrowIfNull(options);
        ShipperOptionsValidator.ThrowIfInvalid(options);
        _spool = spool;
        _options = options;
        _time = time ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _collectors = clients is null
            ? CollectorSet.Create(options, _time, _logger)
            : new CollectorSet(options, clients, [], _time, _logger);
        _pipeline = ShippingResilience.Create(options, _time, () => _collectors.AnyAvailable, OnRetry);
        _quarantine = new Quarantine(options.QuarantineDirectory, options.QuarantineMaxBytes, _time, _logger);
    }

    /// <summary>The client shared with <see cref="HeartbeatSender"/>: the collector set, which sends each heartbeat to a collector that is up.</summary>
    internal IIngestClient Transport => _collectors;

    /// <summary>The collectors, their health and counters.</summary>
    internal CollectorSet Collectors => _collectors;

    public ShipperStatus Status
    {
        get
        {
            lock (_errorLock)
            {
                return new ShipperStatus
                {
                    State = _state,
                    AttemptsFailed = Interlocked.Read(ref _attemptsFailed),
                    Retries = Interlocked.Read(ref _retries),
                    AckedBatches = Interlocked.Read(ref _ackedBatches),
                    AckedEvents = Interlocked.Read(ref _ackedEvents),
                    DuplicateAcks = Interlocked.Read(ref _duplicateAcks),
                    QuarantinedBatches = _quarantine.Stored,
                    QuarantineDeletedOverCap = _quarantine.DeletedOverCap,
                    QuarantineDeletedOverCapEvents = _quarantine.DeletedOverCapEvents,
                    Conflicts = Interlocked.Read(ref _conflicts),
                    InFlight = Volatile.Read(ref _inFlight),
                    LastError = _lastError,
                    LastErrorAt = _lastErrorAt,
                    LastAckAt = _lastAckAt,
                    PacedAcks = Interlocked.Read(ref _pacedAcks),
                    PaceMs = _paceMs,
                    PacedUntil = _pacedUntil,
                    Collectors = _collectors.Status,
                };
            }
        }
    }

    /// <summary>Ships until <paramref name="cancellationToken"/> is cancelled. Unacknowledged batches stay in the spool for the next run.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _running, 1) == 1)
        {
            throw new InvalidOperationException("the shipper is already running");
        }
        ShipperLog.Started(_logger, string.Join(", ", _options.CollectorsInOrder()), _options.MaxInFlight);
        _state = ShipperState.Running;
        var inFlight = new Queue<(SpoolEntry Entry, Task<Outcome> Send)>();
        var sends = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var (window, paceLeft) = Pace();
                while (paceLeft == TimeSpan.Zero && inFlight.Count < window && _spool.TryRead() is { } entry)
                {
                    inFlight.Enqueue((entry, SendAsync(entry, sends.Token)));
                    Volatile.Write(ref _inFlight, inFlight.Count);
                }
                if (inFlight.Count == 0)
                {
                    if (paceLeft > TimeSpan.Zero)
                    {
                        // Paced, nothing in flight: the next Send waits, its batch in the spool.
                        await Task.Delay(paceLeft, _time, cancellationToken).ConfigureAwait(false);
                    }
                    else
                    {
                        await _spool.WaitToReadAsync(cancellationToken).ConfigureAwait(false);
                    }
                    continue;
                }
                // While a pace runs, only the answers in flight are awaited (and applied: a later
                // ack may end or renew the pace); nothing new starts.
                var (head, send) = inFlight.Peek();
                if (!send.IsCompleted && inFlight.Count < window && paceLeft == TimeSpan.Zero)
                {
                    // Room in the window: wake for the head's answer or for a new batch, whichever first.
                    await Task.WhenAny(send, _spool.WaitToReadAsync(cancellationToken).AsTask()).ConfigureAwait(false);
                    continue;
                }
                var outcome = await send.ConfigureAwait(false);
                inFlight.Dequeue();
                Volatile.Write(ref _inFlight, inFlight.Count);
                switch (outcome.Kind)
                {
                    case OutcomeKind.Acked:
                        Acknowledge(head, outcome.Ack!, outcome.Url);
                        head.Dispose();
                        break;
                    case OutcomeKind.Refused:
                        SetAside(head, outcome.Status, outcome.Url);
                        head.Dispose();
                        break;
                    case OutcomeKind.Cancelled:
                    case OutcomeKind.DroppedFromSpool:
                        head.Dispose();
                        break;
                    default:
                        head.Dispose();
                        await StallAsync(outcome, head.Sequence, inFlight, sends, cancellationToken).ConfigureAwait(false);
                        sends.Dispose();
                        sends = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                        break;
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping.
        }
        finally
        {
            await sends.CancelAsync().ConfigureAwait(false);
            await AbandonAsync(inFlight).ConfigureAwait(false);
            sends.Dispose();
            // A pace holds for this run only: the next one starts unpaced, as a restarted agent does.
            lock (_errorLock)
            {
                (_pacedUntil, _paceMs) = (null, 0);
            }
            _pacedAcksThisTime = 0;
            _state = ShipperState.Stopped;
            Interlocked.Exchange(ref _running, 0);
        }
    }

    // The batch is refused for good: into the quarantine, then done with in the spool, which
    // reports it (and any quarantine trims) as loss in the next batch and, after ALREADY_EXISTS,
    // starts a new epoch. Never acknowledged as stored.
    private void SetAside(SpoolEntry entry, GrpcStatus status, string? url)
    {
        string epoch = EpochOf(entry);
        var trimmed = _quarantine.Put(entry.Sequence, epoch, entry.EventCount, entry.Payload, status);
        bool conflict = status.StatusCode == StatusCode.AlreadyExists;
        _spool.SetAside(entry.Sequence, entry.EventCount, trimmed, newEpoch: conflict);
        if (conflict)
        {
            Interlocked.Increment(ref _conflicts);
            ShipperLog.Conflict(_logger, entry.Sequence, epoch, entry.EventCount, url ?? "", status.Detail, _quarantine.DirectoryPath, _spool.Epoch, _spool.EpochStartSequence);
        }
        else
        {
            ShipperLog.Quarantined(_logger, entry.Sequence, entry.EventCount, url ?? "", status.StatusCode, status.Detail, _quarantine.DirectoryPath);
        }
        RecordError($"batch {entry.Sequence} refused by {url} and quarantined: {status.StatusCode} {status.Detail}");
    }

    // Refused batches are rare: reading the epoch back from the payload costs nothing that matters.
    private static string EpochOf(SpoolEntry entry)
    {
        try
        {
            return EventBatch.Parser.ParseFrom(entry.Payload.Span).Epoch;
        }
        catch (Google.Protobuf.InvalidProtocolBufferException)
        {
            return "";
        }
    }

    /// <summary>The calls allowed in flight now (1 while paced), and the time left before a new one may start (zero: now).</summary>
    private (int Window, TimeSpan PaceLeft) Pace()
    {
        // Read without the lock: the run loop, which calls this, is the only writer.
        if (_pacedUntil is not { } at)
        {
            return (_options.MaxInFlight, TimeSpan.Zero);
        }
        var left = at - _time.GetUtcNow();
        return (1, left > TimeSpan.Zero ? left : TimeSpan.Zero);
    }

    /// <summary>The pace an ack asks for, cut to <see cref="MaxPace"/>.</summary>
    internal static TimeSpan Honoured(uint paceMs) => TimeSpan.FromMilliseconds(Math.Min(paceMs, MaxPace.TotalMilliseconds));

    private void Acknowledge(SpoolEntry entry, Ack ack, string? url)
    {
        _spool.Acknowledge(entry.Sequence);
        Interlocked.Increment(ref _ackedBatches);
        Interlocked.Add(ref _ackedEvents, entry.EventCount);
        if (ack.Duplicate)
        {
            Interlocked.Increment(ref _duplicateAcks);
        }
        if (_state != ShipperState.Running)
        {
            ShipperLog.Resumed(_logger);
            _state = ShipperState.Running;
        }
        // Acks are applied in sequence order, so the latest applied one decides the pace: a later
        // ack with 0 ends it, one with another value replaces it (counted from that ack).
        uint pace = ack.NextSendAfterMs;
        var now = _time.GetUtcNow();
        bool wasPaced;
        lock (_errorLock)
        {
            _lastAckAt = now;
            wasPaced = _pacedUntil is not null;
            _pacedUntil = pace == 0 ? null : now + Honoured(pace);
            _paceMs = pace;
        }
        if (pace != 0)
        {
            Interlocked.Increment(ref _pacedAcks);
            _pacedAcksThisTime++;
            if (!wasPaced)
            {
                ShipperLog.PacingStarted(_logger, url ?? "", pace, Honoured(pace), MaxPace);
            }
        }
        else if (wasPaced)
        {
            ShipperLog.PacingEnded(_logger, url ?? "", _pacedAcksThisTime, _options.MaxInFlight);
            _pacedAcksThisTime = 0;
        }
    }

    // Stops shipping after a failure no retry fixes: in-flight calls are abandoned (their batches
    // stay in the spool), and after StallProbeInterval the shipper reads again from the first
    // unacknowledged batch.
    private async Task StallAsync(Outcome outcome, ulong sequence, Queue<(SpoolEntry Entry, Task<Outcome> Send)> inFlight, CancellationTokenSource sends, CancellationToken cancellationToken)
    {
        if (outcome.Kind == OutcomeKind.AuthenticationFailed)
        {
            _state = ShipperState.AuthenticationFailed;
            RecordError($"collector {outcome.Url} refused the agent's credentials: {outcome.Status.StatusCode} {outcome.Status.Detail}");
            ShipperLog.AuthenticationFailed(_logger, outcome.Url ?? "", outcome.Status.StatusCode, outcome.Status.Detail, _options.StallProbeInterval);
        }
        else
        {
            _state = ShipperState.Stalled;
            RecordError($"batch {sequence}: {outcome.Reason}, from {outcome.Url}");
            ShipperLog.Stalled(_logger, sequence, outcome.Url ?? "", outcome.Reason ?? "", _options.StallProbeInterval);
        }
        await sends.CancelAsync().ConfigureAwait(false);
        await AbandonAsync(inFlight).ConfigureAwait(false);
        await Task.Delay(_options.StallProbeInterval, _time, cancellationToken).ConfigureAwait(false);
        if (outcome.Kind == OutcomeKind.AuthenticationFailed && !string.IsNullOrEmpty(_options.TokenFile))
        {
            try
            {
                _collectors.SetToken(_options.ReadToken());
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
            {
                ShipperLog.TokenReloadFailed(_logger, e);
            }
        }
    }

    private async Task AbandonAsync(Queue<(SpoolEntry Entry, Task<Outcome> Send)> inFlight)
    {
        while (inFlight.TryDequeue(out var item))
        {
            await item.Send.ConfigureAwait(false);
            item.Entry.Dispose();
        }
        Volatile.Write(ref _inFlight, 0);
        _spool.RewindReader();
    }

    private async Task<Outcome> SendAsync(SpoolEntry entry, CancellationToken cancellationToken)
    {
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(SequenceKey, entry.Sequence);
        try
        {
            var ack = await _pipeline.ExecuteAsync(
                static async (ctx, state) =>
                {
                    if (state.Spool.IsDropped(state.Entry.Sequence))
                    {
                        throw new DroppedFromSpoolException();
                    }
                    // Each attempt to the collector that is up now: a retry after a transient
                    // failure goes to the next one.
                    var collector = state.Collectors.Select();
                    ctx.Properties.Set(CollectorKey, collector);
                    return await state.Collectors.SendAsync(collector, state.Entry, ctx.CancellationToken).ConfigureAwait(false);
                },
                context,
                (Collectors: _collectors, Spool: _spool, Entry: entry)).ConfigureAwait(false);
            string? url = context.Properties.GetValue(CollectorKey, null!)?.Url;
            return ack.Sequence == entry.Sequence
                ? new Outcome(OutcomeKind.Acked, ack, Url: url)
                : new Outcome(OutcomeKind.Unexpected, Reason: $"an ack for sequence {ack.Sequence}", Url: url);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return new Outcome(OutcomeKind.Cancelled);
        }
        catch (DroppedFromSpoolException)
        {
            return new Outcome(OutcomeKind.DroppedFromSpool);
        }
        catch (RpcException e)
        {
            Interlocked.Increment(ref _attemptsFailed);
            var collector = context.Properties.GetValue(CollectorKey, null!);
            string? url = collector?.Url;
            var outcome = e.StatusCode switch
            {
                // The batch itself is refused (ingest.proto): InvalidArgument (it breaks a rule, or the
                // store can never take it), AlreadyExists (its key holds other content), and
                // FailedPrecondition and OutOfRange, which no resend fixes either, and ResourceExhausted
                // without a pushback hint (too large for the collector; with a hint it is retried).
                // Not failed over: the collectors share one store and one set of rules, so another
                // would refuse it the same way.
                StatusCode.InvalidArgument or StatusCode.AlreadyExists or StatusCode.FailedPrecondition or StatusCode.OutOfRange
                    => new Outcome(OutcomeKind.Refused, Status: e.Status, Url: url),
                StatusCode.ResourceExhausted when ShippingResilience.Pushback(e) is null
                    => new Outcome(OutcomeKind.Refused, Status: e.Status, Url: url),
                // Not failed over either: a revoked agent must stop, even while some collector has not
                // yet re-read its token list.
                StatusCode.Unauthenticated or StatusCode.PermissionDenied
                    => new Outcome(OutcomeKind.AuthenticationFailed, Status: e.Status, Url: url),
                _ => new Outcome(OutcomeKind.Unexpected, Status: e.Status, Reason: $"{e.StatusCode}: {e.Status.Detail}", Url: url),
            };
            if (collector is not null)
            {
                if (outcome.Kind == OutcomeKind.Refused)
                {
                    _collectors.BatchRefused(collector, $"batch {entry.Sequence} refused: {e.StatusCode}: {e.Status.Detail}");
                }
                else if (outcome.Kind == OutcomeKind.AuthenticationFailed
                    && _collectors.CredentialsRefused(collector, $"{e.StatusCode}: {e.Status.Detail}") is { } accepting)
                {
                    ShipperLog.CredentialsRefusedByOne(_logger, collector.Url, e.StatusCode, e.Status.Detail, accepting.Url);
                }
            }
            return outcome;
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private void OnRetry(OnRetryArguments<object> args)
    {
        Interlocked.Increment(ref _retries);
        Interlocked.Increment(ref _attemptsFailed);
        if (_state == ShipperState.Running)
        {
            _state = ShipperState.Retrying;
        }
        string reason = args.Outcome.Exception is { } e ? _collectors.Describe(e) : "no exception";
        if (args.Context.Properties.TryGetValue(CollectorKey, out var collector))
        {
            reason = $"{collector.Url}: {reason}";
        }
        RecordError(reason);
        args.Context.Properties.TryGetValue(SequenceKey, out ulong sequence);
        ShipperLog.Retrying(_logger, sequence, args.AttemptNumber + 1, reason, args.RetryDelay);
    }

    private void RecordError(string error)
    {
        lock (_errorLock)
        {
            _lastError = error;
            _lastErrorAt = _time.GetUtcNow();
        }
    }

    /// <summary>Disposes the gRPC clients the shipper made (not those it was given).</summary>
    public void Dispose() => _collectors.Dispose();
}
