using System.Globalization;
using System.Text;
using Grpc.AspNetCore.Server;
using Grpc.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Sluice.Collector.Auth;
using Sluice.Collector.Ingest;

namespace Sluice.Collector.Hosting;

/// <summary>
/// Middleware in front of the ingest service: checks the token from the headers, before gRPC reads a
/// byte of the body, and bounds the calls in flight; counts and logs what it refuses.
/// </summary>
/// <remarks>
/// <para>
/// gRPC reads and decompresses a unary call's message, and parses it, before the service method
/// runs. Checking the token there let anyone who reaches the port make the collector inflate and
/// parse up to --max-message-bytes per call (64 such calls at once took it to 850 MB). Here the
/// <c>authorization</c> header is checked first. A refused call is answered with a trailers-only
/// response (HTTP 200, <c>grpc-status</c> in the headers, no body) and the body is never read:
/// Kestrel resets the stream, discarding whatever the client still sends. The service checks the
/// token again on the call it gets (defence in depth); both use <see cref="AgentAuthenticator"/>,
/// so a call refused here never reaches it, and a call let through here is not refused there: each
/// refusal is counted once.
/// </para>
/// <para>
/// In flight: at most <c>maxInFlight</c> authenticated calls at once, over all connections, and apart from them as many
/// heartbeats. One more
/// waits for a slot, in arrival order, for at most <c>wait</c> or two thirds of its own deadline, and at most <c>maxWaiting</c> calls
/// wait at once; past either it is refused with RESOURCE_EXHAUSTED and a <c>grpc-retry-pushback-ms</c>
/// hint, which is what an agent retries on (without the hint, RESOURCE_EXHAUSTED means "too large",
/// which no retry fixes). The wait is for fleets: thousands of agents each with one small call in
/// flight pass 64 at once whenever a call takes a few milliseconds longer, and refusing them at once
/// made each retry a second later (the fleet simulator measured 158 refusals in 15 s with 100 agents,
/// p99 acknowledgement 3.6 s). A waiting call has been authenticated and its body not read: what it
/// holds is its headers and what HTTP/2 flow control lets its connection send unread (Kestrel's
/// connection window, 1 MiB), the same as a call over <c>--max-streams-per-connection</c>. A wait of
/// zero refuses at once, as before. A stream (<c>SendStream</c>) holds its slot until it ends.
/// Before the wait grows that long, the acks pace the agents (<see cref="IngestPacer"/>), fed from here.
/// Per connection, Kestrel's HTTP/2 <c>MaxStreamsPerConnection</c> is advertised in SETTINGS, so a
/// client waits before opening more streams; that bound lives in <see cref="CollectorServer"/>.
/// </para>
/// <para>
/// Size: after the call, a RESOURCE_EXHAUSTED that refuses a message for its size (gRPC's own
/// check, of the length on the wire and of a compressed message once inflated) is counted as too
/// large. gRPC makes those before the service runs, so the service never sees them.
/// </para>
/// </remarks>
internal sealed class IngestFrontDoor(AgentAuthenticator authenticator, IngestCounters counters, RefusalLog log, int maxInFlight, TimeSpan pushback,
    TimeSpan wait = default, int maxWaiting = 0, IngestPacer? pacer = null)
{
    /// <summary>How grpc-dotnet's refusal of a message over MaxReceiveMessageSize begins (Grpc.AspNetCore.Server, PipeExtensions).</summary>
    internal const string TooLargePrefix = "Received message exceeds the maximum configured message size";

    /// <summary>The service's path prefix: <c>/package.Service/</c>.</summary>
    private static readonly PathString ServicePath = "/" + Sluice.Protocol.V1.Ingest.Descriptor.FullName;

    /// <summary>Slots for authenticated ingest calls; async waiters are let in first come, first served.</summary>
    private readonly SemaphoreSlim _slots = new(maxInFlight, maxInFlight);

    /// <summary>
    /// Slots for heartbeats, as many again as the batches' and apart from them. In one queue with the batches, a heartbeat
    /// waited behind a fleet's backlog of batches (10,000 agents: seconds) or was refused with them, and the fleet view
    /// showed live agents as silent. A pool of a quarter as many was too few: 10,000 agents send 333 heartbeats a second,
    /// each held for a commit of the store (about 100 ms under that load), and 16 slots let through about 160 a second.
    /// </summary>
    private readonly SemaphoreSlim _heartbeatSlots = new(maxInFlight, maxInFlight);

    /// <summary>Calls waiting for a slot now.</summary>
    private int _waiting;

    /// <summary>Calls waiting for a slot now (for tests).</summary>
    internal int Waiting => Volatile.Read(ref _waiting);

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var method = context.GetEndpoint()?.Metadata.GetMetadata<GrpcMethodMetadata>();
        // Routing matches gRPC paths ignoring case, and so does StartsWithSegments: whatever reaches
        // the service, including its unknown methods, passes here.
        if (method?.ServiceType != typeof(IngestService) && !context.Request.Path.StartsWithSegments(ServicePath))
        {
            await next(context);
            return;
        }
        string call = method?.Method.Name ?? context.Request.Path.Value ?? "";
        string peer = RefusalLog.PeerAddress(context);
        string? header = context.Request.Headers.Authorization.Count == 0 ? null : context.Request.Headers.Authorization.ToString();
        if (!authenticator.TryAuthenticate(header, out _, out string? refusal))
        {
            counters.Unauthenticated();
            log.Refused(peer, RefusalLog.Unauthenticated, call, StatusCode.Unauthenticated, refusal);
            TrailersOnly(context.Response, StatusCode.Unauthenticated, refusal, pushback: null);
            return;
        }
        var waitFor = WaitFor(context.Request.Headers["grpc-timeout"]);
        bool heartbeat = string.Equals(method?.Method.Name, nameof(IngestService.Heartbeat), StringComparison.Ordinal);
        var slots = heartbeat ? _heartbeatSlots : _slots;
        // Batch calls only: what the pacer reads is the batches' queue.
        var paced = heartbeat ? null : pacer;
        if (!await TakeSlotAsync(slots, waitFor, paced, context.RequestAborted))
        {
            if (context.RequestAborted.IsCancellationRequested)
            {
                return;
            }
            counters.OverLimit();
            string what = heartbeat ? "heartbeats at once (--max-in-flight, for heartbeats)" : "calls at once (--max-in-flight)";
            string detail = wait <= TimeSpan.Zero
                ? $"the collector is handling its limit of {maxInFlight} {what}; retry after the pushback"
                : $"the collector is handling its limit of {maxInFlight} {what}, and no slot came free within {(long)waitFor.TotalMilliseconds} ms " +
                  $"(--in-flight-wait-ms, or two thirds of the call's deadline) or {maxWaiting} calls were waiting already (--max-waiting); retry after the pushback";
            log.Refused(peer, RefusalLog.OverLimit, call, StatusCode.ResourceExhausted, detail);
            TrailersOnly(context.Response, StatusCode.ResourceExhausted, detail, pushback);
            return;
        }
        try
        {
            await next(context);
        }
        finally
        {
            slots.Release();
            paced?.Completed();
        }
        var (code, message) = ResponseStatus(context);
        if (code == StatusCode.ResourceExhausted && message is not null && message.StartsWith(TooLargePrefix, StringComparison.Ordinal))
        {
            counters.TooLarge();
            log.Refused(peer, RefusalLog.TooLarge, call, code, message);
        }
    }

    /// <summary>
    /// How long this call may wait for a slot: <c>wait</c>, but at most <see cref="DeadlineShareForWait"/> of the deadline the
    /// caller sent (<c>grpc-timeout</c>), so that a call let in late still has a third of its time to be stored and acknowledged.
    /// </summary>
    /// <remarks>
    /// Waiting past the caller's deadline is worse than refusing: the call is stored, its acknowledgement never arrives, and
    /// the agent sends the batch again (a duplicate that costs the store a second time). The agent sends a 15 s deadline
    /// per attempt, so it waits up to 10 s under the default <c>--in-flight-wait-ms</c>.
    /// </remarks>
    internal TimeSpan WaitFor(string? grpcTimeout) =>
        TryParseTimeout(grpcTimeout, out var deadline) && deadline * DeadlineShareForWait < wait ? deadline * DeadlineShareForWait : wait;

    /// <summary>The share of the caller's deadline a call may spend waiting for a slot.</summary>
    internal const double DeadlineShareForWait = 2.0 / 3;

    /// <summary>
    /// A <c>grpc-timeout</c> header value: 1 to 8 ASCII digits and a unit, H M S m u n (gRPC over HTTP/2, "Requests").
    /// Anything else is no deadline.
    /// </summary>
    internal static bool TryParseTimeout(string? value, out TimeSpan timeout)
    {
        timeout = default;
        if (value is not { Length: >= 2 and <= 9 })
        {
            return false;
        }
        var digits = value.AsSpan(0, value.Length - 1);
        foreach (char c in digits)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }
        }
        long amount = long.Parse(digits, NumberStyles.None, CultureInfo.InvariantCulture);
        double ticksPerUnit = value[^1] switch
        {
            'H' => TimeSpan.TicksPerHour,
            'M' => TimeSpan.TicksPerMinute,
            'S' => TimeSpan.TicksPerSecond,
            'm' => TimeSpan.TicksPerMillisecond,
            'u' => TimeSpan.TicksPerMicrosecond,
            'n' => 1.0 / TimeSpan.NanosecondsPerTick,
            _ => -1,
        };
        if (ticksPerUnit < 0)
        {
            return false;
        }
        timeout = TimeSpan.FromTicks((long)(amount * ticksPerUnit));
        return true;
    }

    /// <summary>A slot now, or after waiting for one (bounded in time and in waiters); false if none came or the call went away.</summary>
    private async Task<bool> TakeSlotAsync(SemaphoreSlim slots, TimeSpan wait, IngestPacer? pacer, CancellationToken aborted)
    {
        if (slots.Wait(0))
        {
            return true;
        }
        if (wait <= TimeSpan.Zero)
        {
            return false;
        }
        if (Interlocked.Increment(ref _waiting) > maxWaiting)
        {
            Interlocked.Decrement(ref _waiting);
            return false;
        }
        counters.Waited();
        pacer?.WaitStarted();
        try
        {
            return await slots.WaitAsync(wait, aborted);
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            return false;
        }
        finally
        {
            pacer?.WaitEnded();
            Interlocked.Decrement(ref _waiting);
        }
    }

    /// <summary>A response with no body: the gRPC status goes in the headers (gRPC over HTTP/2, "Trailers-Only").</summary>
    private static void TrailersOnly(HttpResponse response, StatusCode code, string detail, TimeSpan? pushback)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/grpc";
        response.Headers["grpc-status"] = ((int)code).ToString(CultureInfo.InvariantCulture);
        response.Headers["grpc-message"] = PercentEncode(detail);
        if (pushback is { } delay)
        {
            response.Headers["grpc-retry-pushback-ms"] = ((long)delay.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
        }
    }

    /// <summary>The status gRPC answered with: in the trailers, or in the headers of a trailers-only response.</summary>
    private static (StatusCode Code, string? Message) ResponseStatus(HttpContext context)
    {
        var trailers = context.Features.Get<IHttpResponseTrailersFeature>()?.Trailers;
        foreach (var headers in new[] { trailers, context.Response.Headers })
        {
            if (headers is not null && int.TryParse(headers["grpc-status"], NumberStyles.None, CultureInfo.InvariantCulture, out int code))
            {
                string? message = headers["grpc-message"];
                return ((StatusCode)code, message is null ? null : Uri.UnescapeDataString(message));
            }
        }
        return (StatusCode.OK, null);
    }

    /// <summary>grpc-message encoding: printable ASCII but '%' as is, every other UTF-8 byte as %XX (gRPC over HTTP/2, "Responses").</summary>
    internal static string PercentEncode(string message)
    {
        var sb = new StringBuilder(message.Length);
        foreach (byte b in Encoding.UTF8.GetBytes(message))
        {
            if (b is >= 0x20 and <= 0x7E && b != (byte)'%')
            {
                sb.Append((char)b);
            }
            else
            {
                sb.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
            }
        }
        return sb.ToString();
    }
}
