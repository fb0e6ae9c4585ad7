using System.Globalization;
using Grpc.Core;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace Sluice.Agent.Shipping;

/// <summary>
/// The resilience around every Send: one retry pipeline per batch (<see cref="Create"/>: exponential
/// backoff with jitter, never gives up on a transient failure), and inside it, for each attempt, the
/// pipeline of the collector it goes to (<see cref="CreateForCollector"/>: that collector's circuit
/// breaker, then the per-attempt timeout). With several collectors the breakers are apart: one
/// collector failing opens its own breaker only. Which failures are transient is decided here and
/// only here.
/// </summary>
internal static class ShippingResilience
{
    /// <summary>Trailer by which a gRPC server asks the client to wait before retrying (gRFC A6, "Pushback").</summary>
    public const string PushbackTrailer = "grpc-retry-pushback-ms";

    /// <param name="failoverReady">True when another attempt now would go to a collector that is up (or due for a probe): the retry then goes at once instead of after the backoff.</param>
    public static ResiliencePipeline Create(ShipperOptions options, TimeProvider time, Func<bool>? failoverReady = null, Action<OnRetryArguments<object>>? onRetry = null)
    {
        return new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = static args => ValueTask.FromResult(args.Outcome.Exception is { } e && ShouldRetry(e)),
                MaxRetryAttempts = int.MaxValue,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.RetryBaseDelay,
                MaxDelay = options.RetryMaxDelay,
                // Another collector is up: go there now. Otherwise the server's pushback, the
                // breaker's remaining break, or (null) the backoff.
                DelayGenerator = args => ValueTask.FromResult(failoverReady?.Invoke() == true ? TimeSpan.Zero : ServerDelay(args.Outcome.Exception)),
                OnRetry = args =>
                {
                    onRetry?.Invoke(args);
                    return default;
                },
            })
            .Build();
    }

    /// <summary>One collector's circuit breaker (its state in <paramref name="breaker"/>), then the per-attempt timeout.</summary>
    public static ResiliencePipeline CreateForCollector(ShipperOptions options, TimeProvider time, CircuitBreakerStateProvider breaker)
    {
        return new ResiliencePipelineBuilder { TimeProvider = time }
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                ShouldHandle = static args => ValueTask.FromResult(args.Outcome.Exception is { } e && IsTransient(e)),
                FailureRatio = options.BreakerFailureRatio,
                MinimumThroughput = options.BreakerMinimumThroughput,
                SamplingDuration = options.BreakerSamplingDuration,
                BreakDuration = options.BreakerBreakDuration,
                StateProvider = breaker,
            })
            .AddTimeout(options.AttemptTimeout)
            .Build();
    }

    /// <summary>
    /// Transient gRPC failures, worth another attempt of the same batch (the collector
    /// deduplicates on (agent, sequence), so a resend of a batch it stored is harmless):
    /// <list type="bullet">
    /// <item>Unavailable: collector down, restarting, connection refused or reset.</item>
    /// <item>DeadlineExceeded, and our own per-attempt timeout.</item>
    /// <item>Aborted: the server gave up on a conflict (e.g. a concurrent write).</item>
    /// <item>Internal: in grpc-dotnet a connection cut mid-call surfaces as Internal ("response
    /// ended prematurely", RST_STREAM). A batch the collector refuses for its content comes back
    /// as InvalidArgument, never Internal, so retrying Internal cannot loop on a bad batch.</item>
    /// <item>ResourceExhausted with the server's pushback hint (<see cref="PushbackTrailer"/>): the collector
    /// has too many calls in flight. Nothing was stored; retried after the hint. Without a hint it means
    /// the message is larger than the collector takes: no resend fixes that, so the shipper refuses it
    /// (quarantine, counted as loss) rather than let one batch stall every batch behind it.</item>
    /// </list>
    /// </summary>
    public static bool IsTransient(Exception exception) => exception switch
    {
        TimeoutRejectedException => true,
        RpcException rpc => rpc.StatusCode switch
        {
            StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Aborted or StatusCode.Internal => true,
            StatusCode.ResourceExhausted => Pushback(rpc) is not null,
            _ => false,
        },
        _ => false,
    };

    /// <summary>A transient failure, or the breaker being open (retried after the break).</summary>
    public static bool ShouldRetry(Exception exception) => exception is BrokenCircuitException || IsTransient(exception);

    /// <summary>The server's pushback, or how long the breaker stays open; null lets the backoff decide.</summary>
    public static TimeSpan? ServerDelay(Exception? exception) => exception switch
    {
        RpcException rpc => Pushback(rpc),
        BrokenCircuitException { RetryAfter: { } after } => after,
        _ => null,
    };

    public static TimeSpan? Pushback(RpcException rpc)
    {
        string? value = rpc.Trailers.GetValue(PushbackTrailer);
        return value is not null && long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out long ms)
            ? TimeSpan.FromMilliseconds(ms)
            : null;
    }
}
