using System.Net;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Sluice.Protocol.V1;

namespace Sluice.Benchmarks.Delivery;

/// <summary>A collector on 127.0.0.1 that parses and acknowledges batches and stores nothing.</summary>
internal static class SinkCollector
{
    public static WebApplication Start(int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddGrpc();
        builder.Services.AddSingleton<AckCounter>();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port, l => l.Protocols = HttpProtocols.Http2));
        var app = builder.Build();
        app.MapGrpcService<SinkIngestService>();
        app.StartAsync().GetAwaiter().GetResult();
        return app;
    }

    public static string Url(WebApplication app) => app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

    internal sealed class AckCounter
    {
        private int _remaining;
        private TaskCompletionSource _done = new();

        public Task WaitFor(int count)
        {
            _done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _remaining, count);
            return _done.Task;
        }

        public void Acked()
        {
            if (Interlocked.Decrement(ref _remaining) == 0)
            {
                _done.TrySetResult();
            }
        }
    }

    private sealed class SinkIngestService(AckCounter acks) : Ingest.IngestBase
    {
        public override Task<Ack> Send(EventBatch request, ServerCallContext context)
        {
            acks.Acked();
            return Task.FromResult(new Ack { Sequence = request.Sequence, EventsStored = (uint)request.Events.Count });
        }
    }
}
