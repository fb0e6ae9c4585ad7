using Grpc.Core;
using GrpcStatus = Grpc.Core.Status;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;
using Sluice.Agent.Spool;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Shipping;

/// <summary>
/// Reads the spool in sequence order and sends each batch to the collector through one resilience
/// pipeline, with up to <see cref="ShipperOptions.MaxInFlight"/> calls in flight. Acknowledgements
/// are applied to the spool strictly in sequence order, so a restart resends from the first batch
/// not known to be stored (at-least-once; the collector deduplicates on (agent, epoch, sequence)).
/// A batch the collector refuses is set aside in the quarantine and reported as loss in the next
/// batch; after ALREADY_EXISTS the spool also starts a new epoch.
/// </summary>
internal sealed class Shipper : IDisposable
{
    private static readonly ResiliencePropertyKey<ulong> SequenceKey = new("sluice.sequence");

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

    private readonly record struct Outcome(OutcomeKind Kind, Ack? Ack = null, GrpcStatus Status = default, string? Reason = null);

    private readonly DiskSpool _spool;
    private readonly ShipperOptions _options;
    private readonly IIngestClient _transport;
    private readonly IngestTransport? _ownTransport;
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

    /// <summary>Creates a shipper for <paramref name="spool"/>, with its own gRPC client for <see cref="ShipperOptions.CollectorUrl"/>. Validates the options (throws <see cref="Microsoft.Extensions.Options.OptionsValidationException"/>).</summary>
    public Shipper(DiskSpool spool, ShipperOptions options, TimeProvider? time = null, ILogger<Shipper>? logger = null)
        : this(spool, options, client: null, time, logger)
    {
    }

    /// <summary>Creates a shipper that reaches the collector through <paramref name="client"/>, which it does not dispose; with null, through its own gRPC client.</summary>
    internal Shipper(DiskSpool spool, ShipperOptions options, IIngestClient? client, TimeProvider? time = null, ILogger<Shipper>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(spool);
        ArgumentNullException.ThrowIfNull(options);
        ShipperOptionsValidator.ThrowIfInvalid(options);
        _spool = spool;
        _options = options;
        _time = time ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _ownTransport = client is null ? IngestTransport.Create(options) : null;
        _transport = client ?? _ownTransport!;
        _pipeline = ShippingResilience.Create(options, _time, OnRetry);
        _quarantine = new Quarantine(options.QuarantineDirectory, options.QuarantineMaxBytes, _time, _logger);
    }

    /// <summary>The client, shared with <see cref="HeartbeatSender"/>.</summary>
    internal IIngestClient Transport => _transport;

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
        ShipperLog.Started(_logger, _options.CollectorUrl, _options.MaxInFlight);
        _state = ShipperState.Running;
        var inFlight = new Queue<(SpoolEntry Entry, Task<Outcome> Send)>();
        var sends = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                while (inFlight.Count < _options.MaxInFlight && _spool.TryRead() is { } entry)
                {
                    inFlight.Enqueue((entry, SendAsync(entry, sends.Token)));
                    Volatile.Write(ref _inFlight, inFlight.Count);
                }
                if (inFlight.Count == 0)
                {
                    await _spool.WaitToReadAsync(cancellationToken).ConfigureAwait(false);
                    continue;
                }
                var (head, send) = inFlight.Peek();
                if (!send.IsCompleted && inFlight.Count < _options.MaxInFlight)
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
                        Acknowledge(head, outcome.Ack!);
                        head.Dispose();
                        break;
                    case OutcomeKind.Refused:
                        SetAside(head, outcome.Status);
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
            _state = ShipperState.Stopped;
            Interlocked.Exchange(ref _running, 0);
        }
    }

    // The batch is refused for good: into the quarantine, then done with in the spool, which
    // reports it (and any quarantine trims) as loss in the next batch and, after ALREADY_EXISTS,
    // starts a new epoch. Never acknowledged as stored.
    private void SetAside(SpoolEntry entry, GrpcStatus status)
    {
        string epoch = EpochOf(entry);
        var trimmed = _quarantine.Put(entry.Sequence, epoch, entry.EventCount, entry.Payload, status);
        bool conflict = status.StatusCode == StatusCode.AlreadyExists;
        _spool.SetAside(entry.Sequence, entry.EventCount, trimmed, newEpoch: conflict);
        if (conflict)
        {
            Interlocked.Increment(ref _conflicts);
            ShipperLog.Conflict(_logger, entry.Sequence, epoch, entry.EventCount, status.Detail, _quarantine.DirectoryPath, _spool.Epoch, _spool.EpochStartSequence);
        }
        else
        {
            ShipperLog.Quarantined(_logger, entry.Sequence, entry.EventCount, status.StatusCode, status.Detail, _quarantine.DirectoryPath);
        }
        RecordError($"batch {entry.Sequence} refused and quarantined: {status.StatusCode} {status.Detail}");
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

    private void Acknowledge(SpoolEntry entry, Ack ack)
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
        lock (_errorLock)
        {
            _lastAckAt = _time.GetUtcNow();
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
            RecordError($"collector refused the agent's credentials: {outcome.Status.StatusCode} {outcome.Status.Detail}");
            ShipperLog.AuthenticationFailed(_logger, outcome.Status.StatusCode, outcome.Status.Detail, _options.StallProbeInterval);
        }
        else
        {
            _state = ShipperState.Stalled;
            RecordError($"batch {sequence}: {outcome.Reason}");
            ShipperLog.Stalled(_logger, sequence, outcome.Reason ?? "", _options.StallProbeInterval);
        }
        await sends.CancelAsync().ConfigureAwait(false);
        await AbandonAsync(inFlight).ConfigureAwait(false);
        await Task.Delay(_options.StallProbeInterval, _time, cancellationToken).ConfigureAwait(false);
        if (outcome.Kind == OutcomeKind.AuthenticationFailed && !string.IsNullOrEmpty(_options.TokenFile))
        {
            try
            {
                _transport.SetToken(_options.ReadToken());
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
                    return await state.Transport.SendAsync(state.Entry, ctx.CancellationToken).ConfigureAwait(false);
                },
                context,
                (Transport: _transport, Spool: _spool, Entry: entry)).ConfigureAwait(false);
            return ack.Sequence == entry.Sequence
                ? new Outcome(OutcomeKind.Acked, ack)
                : new Outcome(OutcomeKind.Unexpected, Reason: $"an ack for sequence {ack.Sequence}");
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
            return e.StatusCode switch
            {
                // The batch itself is refused (ingest.proto): InvalidArgument (it breaks a rule, or the
                // store can never take it), AlreadyExists (its key holds other content), and
                // FailedPrecondition and OutOfRange, which no resend fixes either, and ResourceExhausted
                // without a pushback hint (too large for the collector; with a hint it is retried).
                StatusCode.InvalidArgument or StatusCode.AlreadyExists or StatusCode.FailedPrecondition or StatusCode.OutOfRange
                    => new Outcome(OutcomeKind.Refused, Status: e.Status),
                StatusCode.ResourceExhausted when ShippingResilience.Pushback(e) is null
                    => new Outcome(OutcomeKind.Refused, Status: e.Status),
                StatusCode.Unauthenticated or StatusCode.PermissionDenied
                    => new Outcome(OutcomeKind.AuthenticationFailed, Status: e.Status),
                _ => new Outcome(OutcomeKind.Unexpected, Status: e.Status, Reason: $"{e.StatusCode}: {e.Status.Detail}"),
            };
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
        string reason = args.Outcome.Exception switch
        {
            RpcException rpc => $"{rpc.StatusCode}: {rpc.Status.Detail}",
            TimeoutRejectedException => $"no answer within {_options.AttemptTimeout}",
            BrokenCircuitException => "circuit open",
            { } e => e.GetType().Name,
            null => "no exception",
        };
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

    /// <summary>Disposes the gRPC client the shipper made (not one it was given).</summary>
    public void Dispose() => _ownTransport?.Dispose();
}
