using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Sluice.Collector.Hosting;

/// <summary>HTTP/1.1 and h2c with prior knowledge on one cleartext port.</summary>
/// <remarks>
/// Kestrel (checked on ASP.NET Core 10.0.12) picks HTTP/1.1 for every cleartext connection of an
/// <see cref="HttpProtocols.Http1AndHttp2"/> endpoint, because without TLS there is no ALPN: a gRPC
/// client's HTTP/2 preface then fails as a bad HTTP/1.1 request. So the cleartext endpoint stays
/// <see cref="HttpProtocols.Http2"/> (gRPC's path is unchanged), and a connection middleware in front
/// of it looks at the first bytes. The HTTP/2 client preface (RFC 9113 §3.4) goes on to the HTTP/2
/// pipeline; anything else (a browser's <c>GET / HTTP/1.1</c>) is handed to an HTTP/1.1 pipeline that
/// Kestrel builds for a second endpoint, <see cref="Http1PipelineEndPoint"/>, which is bound through
/// <see cref="PipelineOnlyListenerFactory"/> and never accepts a connection itself: no second socket.
/// Nothing is consumed while looking, so the chosen pipeline reads the connection from its first byte.
/// </remarks>
internal static class CleartextProtocols
{
    /// <summary>"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", RFC 9113 §3.4.</summary>
    private static ReadOnlySpan<byte> Preface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;

    /// <summary>A client that connects and says nothing for this long is closed.</summary>
    public static readonly TimeSpan FirstBytesTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Adds the dispatch in front of <paramref name="listen"/>'s HTTP/2 pipeline.</summary>
    /// <param name="http1">The HTTP/1.1 endpoint's options; its pipeline is complete once Kestrel has bound it.</param>
    public static void UseHttp1Fallback(ListenOptions listen, ListenOptions http1)
    {
        ConnectionDelegate? http1Pipeline = null;
        listen.Use(next => async connection =>
        {
            var protocol = await PeekAsync(connection.Transport.Input, connection.ConnectionClosed);
            switch (protocol)
            {
                case HttpProtocols.Http2:
                    await next(connection);
                    break;
                case HttpProtocols.Http1:
                    // Built on first use: Kestrel adds the HTTP middleware to http1 when it binds it,
                    // which is before any connection is accepted.
                    http1Pipeline ??= ((IConnectionBuilder)http1).Build();
                    await http1Pipeline(connection);
                    break;
                default:
                    // Closed, or silent past the timeout: nothing to answer.
                    break;
            }
        });
    }

    /// <summary>Reads, without consuming, until the first bytes are or are not the HTTP/2 preface.</summary>
    /// <returns>Http2, Http1, or None when the connection ended or stayed silent first.</returns>
    internal static async Task<HttpProtocols> PeekAsync(PipeReader input, CancellationToken closed)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(closed);
        timeout.CancelAfter(FirstBytesTimeout);
        while (true)
        {
            ReadResult result;
            try
            {
                result = await input.ReadAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                return HttpProtocols.None;
            }
            var buffer = result.Buffer;
            var verdict = Classify(buffer);
            // Consume nothing; mark what was seen as examined so the next read waits for more.
            input.AdvanceTo(buffer.Start, verdict == HttpProtocols.None ? buffer.End : buffer.Start);
            if (verdict != HttpProtocols.None)
            {
                return verdict;
            }
            if (result.IsCompleted || result.IsCanceled)
            {
                return buffer.IsEmpty ? HttpProtocols.None : HttpProtocols.Http1;
            }
        }
    }

    /// <summary>Http2 for the whole preface, Http1 as soon as a byte differs from it, None while undecided.</summary>
    internal static HttpProtocols Classify(ReadOnlySequence<byte> buffer)
    {
        int n = (int)Math.Min(buffer.Length, Preface.Length);
        Span<byte> head = stackalloc byte[Preface.Length];
        buffer.Slice(0, n).CopyTo(head);
        if (!head[..n].SequenceEqual(Preface[..n]))
        {
            return HttpProtocols.Http1;
        }
        return n == Preface.Length ? HttpProtocols.Http2 : HttpProtocols.None;
    }
}

/// <summary>The endpoint whose HTTP/1.1 pipeline serves the cleartext port's HTTP/1.1 connections; it has no socket.</summary>
internal sealed class Http1PipelineEndPoint : EndPoint
{
    public override string ToString() => "in-process-http1-pipeline";
}

/// <summary>Binds <see cref="Http1PipelineEndPoint"/> only: a listener that accepts nothing until it is unbound.</summary>
internal sealed class PipelineOnlyListenerFactory : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    public bool CanBind(EndPoint endpoint) => endpoint is Http1PipelineEndPoint;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default) =>
        endpoint is Http1PipelineEndPoint
            ? ValueTask.FromResult<IConnectionListener>(new Listener(endpoint))
            : throw new NotSupportedException($"{nameof(PipelineOnlyListenerFactory)} binds only {nameof(Http1PipelineEndPoint)}, not {endpoint}");

    private sealed class Listener(EndPoint endpoint) : IConnectionListener
    {
        private readonly CancellationTokenSource _unbound = new();

        public EndPoint EndPoint => endpoint;

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _unbound.Token);
            try
            {
                await Task.Delay(Timeout.Infinite, stop.Token);
            }
            catch (OperationCanceledException)
            {
            }
            return null; // null: the listener is done
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
        {
            _unbound.Cancel();
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync()
        {
            _unbound.Cancel();
            _unbound.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
