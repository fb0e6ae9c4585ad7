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
/// In flight: at most <see cref="MaxInFlight"/> authenticated calls at once, over all connections.
/// One more is refused at once with RESOURCE_EXHAUSTED and a <c>grpc-retry-pushback-ms</c> hint,
/// which is what an agent retries on (without the hint, RESOURCE_EXHAUSTED means "too large", which
/// no retry fixes). Refusing rather than queueing keeps the bound simple: a queue would hold
/// requests, their buffered bodies and their connections' flow-control windows, and an agent
/// keeps its batches in its spool anyway. A stream (<c>SendStream</c>) holds its slot until it ends.
/// Per connection, Kestrel's HTTP/2 <c>MaxStreamsPerConnection</c> is advertised in SETTINGS, so a
/// client waits before opening more streams; that bound lives in <see cref="CollectorServer"/>.
/// </para>
/// <para>
/// Size: after the call, a RESOURCE_EXHAUSTED that refuses a message for its size (gRPC's own
/// check, of the length on the wire and of a compressed message once inflated) is counted as too
/// large. gRPC makes those before the service runs, so the service never sees them.
/// </para>
/// </remarks>
internal sealed class IngestFrontDoor(AgentAuthenticator authenticator, IngestCounters counters, RefusalLog log, int maxInFlight, TimeSpan pushback)
{
    /// <summary>How grpc-dotnet's refusal of a message over MaxReceiveMessageSize begins (Grpc.AspNetCore.Server, PipeExtensions).</summary>
    internal const string TooLargePrefix = "Received message exceeds the maximum configured message size";

    /// <summary>The service's path prefix: <c>/package.Service/</c>.</summary>
    private static readonly PathString ServicePath = "/" + Sluice.Protocol.V1.Ingest.Descriptor.FullName;

    /// <summary>Authenticated ingest calls being handled now.</summary>
    private int _inFlight;

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
        if (Interlocked.Increment(ref _inFlight) > maxInFlight)
        {
            Interlocked.Decrement(ref _inFlight);
            counters.OverLimit();
            string detail = $"the collector is handling its limit of {maxInFlight} calls at once (--max-in-flight); retry after the pushback";
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
            Interlocked.Decrement(ref _inFlight);
        }
        var (code, message) = ResponseStatus(context);
        if (code == StatusCode.ResourceExhausted && message is not null && message.StartsWith(TooLargePrefix, StringComparison.Ordinal))
        {
            counters.TooLarge();
            log.Refused(peer, RefusalLog.TooLarge, call, code, message);
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
