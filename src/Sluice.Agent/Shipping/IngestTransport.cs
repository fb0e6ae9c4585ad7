using Grpc.Core;
using Grpc.Net.Client;
using Sluice.Agent.Spool;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Shipping;

/// <summary>
/// The calls the agent makes to the collector (<see cref="IIngestClient"/>), over gRPC. <c>Send</c>
/// goes out with a marshaller that writes the spooled bytes as they are: the spool already holds a
/// serialized EventBatch, so there is nothing to parse and re-serialize on the way out. The wire
/// format is that of <c>Ingest.Send(EventBatch)</c>.
/// </summary>
internal sealed class IngestTransport : IIngestClient, IDisposable
{
    public const string CompressionHeader = "grpc-internal-encoding-request";

    private static readonly Marshaller<SpoolEntry> RawBatchMarshaller = Marshallers.Create<SpoolEntry>(
        static (entry, context) =>
        {
            var payload = entry.Payload;
            context.SetPayloadLength(payload.Length);
            var writer = context.GetBufferWriter();
            payload.Span.CopyTo(writer.GetSpan(payload.Length));
            writer.Advance(payload.Length);
            context.Complete();
        },
        static _ => throw new NotSupportedException("the agent never receives an EventBatch"));

    private static readonly Marshaller<Ack> AckMarshaller = Marshallers.Create<Ack>(
        static (ack, context) => context.Complete(Google.Protobuf.MessageExtensions.ToByteArray(ack)),
        static context => Ack.Parser.ParseFrom(context.PayloadAsReadOnlySequence()));

    internal static readonly Method<SpoolEntry, Ack> SendMethod = new(MethodType.Unary, Ingest.Descriptor.FullName, "Send", RawBatchMarshaller, AckMarshaller);

    private readonly GrpcChannel _channel;
    private readonly CallInvoker _invoker;
    private readonly Ingest.IngestClient _client;
    private readonly bool _gzip;
    private volatile string _authorization;

    public IngestTransport(GrpcChannel channel, string token, ShippingCompression compression)
    {
        _channel = channel;
        _invoker = channel.CreateCallInvoker();
        _client = new Ingest.IngestClient(_invoker);
        _gzip = compression == ShippingCompression.Gzip;
        _authorization = "Bearer " + token;
    }

    /// <summary>The client for the first of <see cref="ShipperOptions.CollectorsInOrder"/>, with the configured token and compression.</summary>
    public static IngestTransport Create(ShipperOptions options) => Create(options, options.CollectorsInOrder()[0]);

    /// <summary>The client for the collector at <paramref name="url"/>, with the configured token and compression.</summary>
    public static IngestTransport Create(ShipperOptions options, string url) =>
        new(CollectorChannel.Create(options, url), options.ReadToken(), options.Compression);

    public void SetToken(string token) => _authorization = "Bearer " + token;

    private Metadata Headers()
    {
        var headers = new Metadata { { "authorization", _authorization } };
        if (_gzip)
        {
            headers.Add(CompressionHeader, "gzip");
        }
        return headers;
    }

    /// <summary>One attempt to send one serialized EventBatch.</summary>
    public async Task<Ack> SendAsync(SpoolEntry batch, CancellationToken cancellationToken)
    {
        using var call = _invoker.AsyncUnaryCall(SendMethod, null, new CallOptions(Headers(), cancellationToken: cancellationToken), batch);
        return await call.ResponseAsync.ConfigureAwait(false);
    }

    public async Task<HeartbeatReply> HeartbeatAsync(AgentHeartbeat heartbeat, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var call = _client.HeartbeatAsync(heartbeat, new CallOptions(Headers(), deadline: DateTime.UtcNow + timeout, cancellationToken: cancellationToken));
        return await call.ResponseAsync.ConfigureAwait(false);
    }

    public void Dispose() => _channel.Dispose();
}
