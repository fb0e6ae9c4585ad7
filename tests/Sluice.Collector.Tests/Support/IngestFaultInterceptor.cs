using System.Collections.Concurrent;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Tests.Support;

/// <summary>
/// Applies <see cref="ScriptedIngestFaults"/> to the batches of a real collector's ingest calls, around the
/// service: a fault before the service runs stores nothing, and a fault after it (the ack is lost) comes once
/// the batch is stored. Heartbeats pass untouched.
/// </summary>
/// <remarks>
/// <c>Send</c>: the fault is applied around the call. <c>SendStream</c>: the request stream applies each
/// batch's fault as the service reads it (delay, failure or cut before it is stored), and the response
/// stream fails in place of a lost ack, which the service writes once the batch is stored.
/// </remarks>
public sealed class IngestFaultInterceptor(ScriptedIngestFaults faults) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        if (request is not EventBatch batch)
        {
            return await continuation(request, context);
        }
        var fault = faults.Next(batch);
        await BeforeStoreAsync(fault, batch, context);
        var response = await continuation(request, context);
        if (fault.Kind == IngestFaultKind.FailAfterStore)
        {
            throw AckLost(fault, batch.Sequence);
        }
        return response;
    }

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        if (requestStream is not IAsyncStreamReader<EventBatch> batches || responseStream is not IServerStreamWriter<Ack> acks)
        {
            return continuation(requestStream, responseStream, context);
        }
        var lost = new ConcurrentDictionary<ulong, IngestFault>();
        return continuation(
            (IAsyncStreamReader<TRequest>)(object)new FaultingBatches(batches, faults, context, lost),
            (IServerStreamWriter<TResponse>)(object)new LosingAcks(acks, lost),
            context);
    }

    private static async Task BeforeStoreAsync(IngestFault fault, EventBatch batch, ServerCallContext context)
    {
        switch (fault.Kind)
        {
            case IngestFaultKind.Delay:
                await Task.Delay(fault.Delay, context.CancellationToken);
                break;
            case IngestFaultKind.FailBeforeStore:
                throw new RpcException(new Status(fault.Code, $"injected fault: {fault.Code} before storing batch {batch.Sequence}"));
            case IngestFaultKind.Abort:
                context.GetHttpContext().Abort();
                throw new RpcException(new Status(StatusCode.Unavailable, $"injected fault: connection cut before storing batch {batch.Sequence}"));
        }
    }

    private static RpcException AckLost(IngestFault fault, ulong sequence) =>
        new(new Status(fault.Code, $"injected fault: {fault.Code} after storing batch {sequence}"));

    private sealed class FaultingBatches(
        IAsyncStreamReader<EventBatch> inner, ScriptedIngestFaults faults, ServerCallContext context, ConcurrentDictionary<ulong, IngestFault> lost)
        : IAsyncStreamReader<EventBatch>
    {
        public EventBatch Current => inner.Current;

        public async Task<bool> MoveNext(CancellationToken cancellationToken)
        {
            if (!await inner.MoveNext(cancellationToken))
            {
                return false;
            }
            var batch = inner.Current;
            var fault = faults.Next(batch);
            await BeforeStoreAsync(fault, batch, context);
            if (fault.Kind == IngestFaultKind.FailAfterStore)
            {
                lost[batch.Sequence] = fault;
            }
            return true;
        }
    }

    private sealed class LosingAcks(IServerStreamWriter<Ack> inner, ConcurrentDictionary<ulong, IngestFault> lost) : IServerStreamWriter<Ack>
    {
        public WriteOptions? WriteOptions
        {
            get => inner.WriteOptions;
            set => inner.WriteOptions = value;
        }

        public Task WriteAsync(Ack message) => WriteAsync(message, CancellationToken.None);

        public Task WriteAsync(Ack message, CancellationToken cancellationToken) =>
            lost.TryRemove(message.Sequence, out var fault)
                ? Task.FromException(AckLost(fault, message.Sequence))
                : inner.WriteAsync(message, cancellationToken);
    }
}
