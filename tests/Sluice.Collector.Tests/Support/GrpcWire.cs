using System.Net;
using System.Net.Http.Headers;
using Grpc.Core;

namespace Sluice.Collector.Tests.Support;

/// <summary>
/// gRPC calls written by hand over HTTP/2 (h2c), for what a gRPC client will not send: a message
/// compressed once and sent many times, a body that is not gzip, a body that never ends (the bodies
/// from <see cref="Sluice.Testing.GrpcFrames"/>). The
/// status is read as a client reads it: from the headers of a trailers-only response, else from
/// the trailers.
/// </summary>
public static class GrpcWire
{
    public static HttpClient Client() => new(new SocketsHttpHandler { EnableMultipleHttp2Connections = true })
    {
        DefaultRequestVersion = HttpVersion.Version20,
        DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        Timeout = TimeSpan.FromMinutes(2),
    };

    public static HttpRequestMessage Request(Uri collector, string method, HttpContent body, bool gzip, string? authorization)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(collector, "/sluice.v1.Ingest/" + method))
        {
            Content = body,
            // h2c with prior knowledge, as gRPC clients speak (a request's own version, not the client's default, is what is sent).
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        body.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        request.Headers.TryAddWithoutValidation("te", "trailers");
        if (gzip)
        {
            request.Headers.TryAddWithoutValidation("grpc-encoding", "gzip");
        }
        if (authorization is not null)
        {
            request.Headers.TryAddWithoutValidation("authorization", authorization);
        }
        return request;
    }

    /// <summary>The call's gRPC status, message and retry pushback, and whether it came trailers-only (in the headers, no body).</summary>
    public static async Task<WireStatus> SendAsync(HttpClient http, HttpRequestMessage request, CancellationToken cancellationToken = default)
    {
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (Find(response.Headers) is { } trailersOnly)
        {
            return trailersOnly with { TrailersOnly = true, BodyBytes = (await response.Content.ReadAsByteArrayAsync(cancellationToken)).Length };
        }
        byte[] body = await response.Content.ReadAsByteArrayAsync(cancellationToken);
        return (Find(response.TrailingHeaders) ?? throw new InvalidOperationException($"no grpc-status in the response (HTTP {(int)response.StatusCode})"))
            with { BodyBytes = body.Length };
    }

    private static WireStatus? Find(HttpHeaders headers)
    {
        if (!headers.TryGetValues("grpc-status", out var status))
        {
            return null;
        }
        string message = headers.TryGetValues("grpc-message", out var m) ? Uri.UnescapeDataString(m.First()) : "";
        string? pushback = headers.TryGetValues("grpc-retry-pushback-ms", out var p) ? p.First() : null;
        return new WireStatus((StatusCode)int.Parse(status.First(), System.Globalization.CultureInfo.InvariantCulture), message, pushback, false, 0);
    }
}

public sealed record WireStatus(StatusCode Code, string Message, string? Pushback, bool TrailersOnly, int BodyBytes);
