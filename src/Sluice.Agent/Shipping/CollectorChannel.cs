using System.IO.Compression;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Grpc.Net.Client;
using Grpc.Net.Compression;

namespace Sluice.Agent.Shipping;

/// <summary>Builds the gRPC channel to one collector: TLS validated against the configured CA, gzip, no gRPC-level retries.</summary>
internal static class CollectorChannel
{
    /// <summary>The channel to <paramref name="url"/> (one of <see cref="ShipperOptions.CollectorsInOrder"/>), with the options' TLS and timeouts.</summary>
    public static GrpcChannel Create(ShipperOptions options, string url)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = options.ConnectTimeout,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            // Notice a dead connection (collector host gone, NAT state lost) instead of waiting on it.
            KeepAlivePingDelay = TimeSpan.FromSeconds(30),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
            EnableMultipleHttp2Connections = true,
        };
        if (!string.IsNullOrEmpty(options.CaFile))
        {
            var roots = LoadCaCertificates(options.CaFile);
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) => ValidateAgainst(roots, certificate, errors);
        }
        return GrpcChannel.ForAddress(url, new GrpcChannelOptions
        {
            HttpHandler = handler,
            DisposeHttpClient = true,
            // One retry layer only: the Polly pipeline. No service config means no gRPC retry or
            // hedging policy; the resolver may not bring one either.
            ServiceConfig = null,
            DisableResolverServiceConfig = true,
            // Polly's per-attempt timeout cancels the call's token; it must surface as an
            // OperationCanceledException for Polly to turn it into a TimeoutRejectedException.
            ThrowOperationCanceledOnCancellation = true,
            CompressionProviders = [new GzipCompressionProvider(CompressionLevel.Fastest)],
            MaxReceiveMessageSize = 64 * 1024,
        });
    }

    public static X509Certificate2Collection LoadCaCertificates(string path)
    {
        var collection = new X509Certificate2Collection();
        collection.ImportFromPemFile(path);
        return collection;
    }

    /// <summary>
    /// Accepts the collector's certificate only if it chains to one of <paramref name="roots"/> (and
    /// nothing else) and names the host we dialled.
    /// </summary>
    internal static bool ValidateAgainst(X509Certificate2Collection roots, X509Certificate? certificate, SslPolicyErrors errors)
    {
        if (certificate is null || (errors & (SslPolicyErrors.RemoteCertificateNotAvailable | SslPolicyErrors.RemoteCertificateNameMismatch)) != 0)
        {
            return false;
        }
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        // A private CA rarely publishes revocation lists; the CA file is the trust decision.
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var leaf = new X509Certificate2(certificate);
        return chain.Build(leaf);
    }
}
