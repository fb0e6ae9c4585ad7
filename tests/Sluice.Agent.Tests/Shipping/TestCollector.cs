using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Tests.Shipping;

/// <summary>What the test collector does with one Send call.</summary>
public enum Fault
{
    None,
    Unavailable,
    Internal,
    /// <summary>ResourceExhausted with a grpc-retry-pushback-ms hint.</summary>
    ResourceExhaustedWithHint,
    /// <summary>ResourceExhausted without a hint (the message is too large).</summary>
    ResourceExhaustedNoHint,
    InvalidArgument,
    /// <summary>AlreadyExists, as if another spool had sent other content under the batch's key (nothing stored).</summary>
    AlreadyExists,
    Unimplemented,
    /// <summary>Stores the batch, then answers only after <see cref="TestCollector.SlowDelay"/> (longer than the agent waits).</summary>
    SlowAfterStore,
    /// <summary>Stores the batch, then resets the call (RST_STREAM): the ack is lost.</summary>
    CutAfterStore,
    /// <summary>Resets the call before storing.</summary>
    CutBeforeStore,
}

/// <summary>
/// A real gRPC collector on Kestrel, 127.0.0.1, for the shipper's tests: it stores batches
/// keyed on (agent, epoch, sequence) as ingest.proto says: the same content again is a duplicate,
/// other content under a stored key is refused with AlreadyExists. It checks the bearer token and
/// injects scripted faults.
/// It can be stopped ("down": nothing listens) and started again on the same port.
/// </summary>
public sealed class TestCollector : IAsyncDisposable
{
    private readonly ConcurrentDictionary<ulong, int> _attempts = new();
    private readonly Lock _waitLock = new();
    private readonly List<(int Count, TaskCompletionSource Done)> _waiters = [];
    private WebApplication? _app;
    private X509Certificate2? _certificate;
    private long _calls;
    private long _duplicates;
    private long _conflicts;

    public ConcurrentDictionary<(string Agent, string Epoch, ulong Sequence), EventBatch> Stored { get; } = new();

    /// <summary>Batches refused with AlreadyExists, with the key they claimed.</summary>
    public ConcurrentQueue<EventBatch> Conflicting { get; } = new();

    public ConcurrentQueue<AgentHeartbeat> Heartbeats { get; } = new();

    public ConcurrentQueue<string> RequestEncodings { get; } = new();

    public string Token { get; set; } = "test-token-0123456789";

    /// <summary>Answers a heartbeat (the central policy tests set the policy here); null: a reply with the time only.</summary>
    public Func<AgentHeartbeat, HeartbeatReply>? HeartbeatReplyFor { get; set; }

    /// <summary>Decides the fault for a call, from the batch sequence and the attempt number for that sequence (1 = first).</summary>
    public Func<ulong, int, Fault>? FaultFor { get; set; }

    public TimeSpan SlowDelay { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>The pace (next_send_after_ms) each ack asks for, from the batch sequence; null: 0, no pacing.</summary>
    public Func<ulong, uint>? PaceFor { get; set; }

    /// <summary>Each Send call, in order of arrival: its sequence and <see cref="System.Diagnostics.Stopwatch"/> timestamp.</summary>
    public ConcurrentQueue<(ulong Sequence, long At)> Arrivals { get; } = new();

    /// <summary>Sequence → <see cref="System.Diagnostics.Stopwatch"/> timestamp of the last ack sent for it (taken just before the answer goes out).</summary>
    public ConcurrentDictionary<ulong, long> Answered { get; } = new();

    public int Port { get; private set; }

    public string Url => $"{(_certificate is null ? "http" : "https")}://{(_certificate is null ? "127.0.0.1" : "localhost")}:{Port}";

    public long Calls => Interlocked.Read(ref _calls);

    public long Duplicates => Interlocked.Read(ref _duplicates);

    /// <summary>Calls refused with AlreadyExists (scripted or found).</summary>
    public long Conflicts => Interlocked.Read(ref _conflicts);

    /// <summary>The one batch stored for <paramref name="agent"/> under <paramref name="sequence"/>, in whatever epoch.</summary>
    public EventBatch Batch(string agent, ulong sequence) => Stored.Single(kv => kv.Key.Agent == agent && kv.Key.Sequence == sequence).Value;

    public bool IsRunning => _app is not null;

    /// <summary>Attempts seen for a sequence.</summary>
    public int AttemptsFor(ulong sequence) => _attempts.TryGetValue(sequence, out int n) ? n : 0;

    public static async Task<TestCollector> StartAsync(X509Certificate2? certificate = null)
    {
        var collector = new TestCollector { _certificate = certificate };
        await collector.StartAsync(0);
        return collector;
    }

    /// <summary>A port nothing listens on (yet): bound and released at once.</summary>
    public static TestCollector NotListening(X509Certificate2? certificate = null)
    {
        using var probe = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return new TestCollector { _certificate = certificate, Port = port };
    }

    public async Task StartAsync() => await StartAsync(Port);

    private async Task StartAsync(int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(this);
        var certificate = _certificate;
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port, listen =>
        {
            if (certificate is null)
            {
                listen.Protocols = HttpProtocols.Http2;
            }
            else
            {
                listen.Protocols = HttpProtocols.Http1AndHttp2;
                listen.UseHttps(certificate);
            }
        }));
        var app = builder.Build();
        app.MapGrpcService<TestIngestService>();
        await app.StartAsync();
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Port = new Uri(address).Port;
        _app = app;
    }

    /// <summary>Stops listening; calls in flight are cut.</summary>
    public async Task StopAsync()
    {
        var app = Interlocked.Exchange(ref _app, null);
        if (app is not null)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
            await app.StopAsync(cts.Token);
            await app.DisposeAsync();
        }
    }

    /// <summary>Completes when at least <paramref name="count"/> distinct batches are stored.</summary>
    public Task WaitForStoredAsync(int count, TimeSpan timeout)
    {
        lock (_waitLock)
        {
            if (Stored.Count >= count)
            {
                return Task.CompletedTask;
            }
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((count, done));
            return done.Task.WaitAsync(timeout);
        }
    }

    internal async Task<Ack> SendAsync(EventBatch batch, ServerCallContext context)
    {
        Interlocked.Increment(ref _calls);
        Arrivals.Enqueue((batch.Sequence, System.Diagnostics.Stopwatch.GetTimestamp()));
        CheckToken(context);
        string? encoding = context.GetHttpContext().Request.Headers["grpc-encoding"];
        RequestEncodings.Enqueue(encoding ?? "identity");
        int attempt = _attempts.AddOrUpdate(batch.Sequence, 1, static (_, n) => n + 1);
        var fault = FaultFor?.Invoke(batch.Sequence, attempt) ?? Fault.None;
        switch (fault)
        {
            case Fault.Unavailable:
                throw new RpcException(new Grpc.Core.Status(StatusCode.Unavailable, "scripted: collector unavailable"));
            case Fault.Internal:
                throw new RpcException(new Grpc.Core.Status(StatusCode.Internal, "scripted: internal error"));
            case Fault.ResourceExhaustedWithHint:
                throw new RpcException(new Grpc.Core.Status(StatusCode.ResourceExhausted, "scripted: shedding load"), new Metadata { { "grpc-retry-pushback-ms", "30" } });
            case Fault.ResourceExhaustedNoHint:
                throw new RpcException(new Grpc.Core.Status(StatusCode.ResourceExhausted, "scripted: message too large"));
            case Fault.InvalidArgument:
                throw new RpcException(new Grpc.Core.Status(StatusCode.InvalidArgument, $"scripted: batch {batch.Sequence} events[0].serial is 0"));
            case Fault.AlreadyExists:
                Interlocked.Increment(ref _conflicts);
                Conflicting.Enqueue(batch);
                throw new RpcException(new Grpc.Core.Status(StatusCode.AlreadyExists, $"scripted: batch {batch.Sequence} of epoch {batch.Epoch} is stored with other content"));
            case Fault.Unimplemented:
                throw new RpcException(new Grpc.Core.Status(StatusCode.Unimplemented, "scripted: unknown method"));
            case Fault.CutBeforeStore:
                context.GetHttpContext().Abort();
                throw new RpcException(new Grpc.Core.Status(StatusCode.Cancelled, "scripted: cut"));
        }
        var ack = Store(batch);
        switch (fault)
        {
            case Fault.SlowAfterStore:
                await Task.Delay(SlowDelay, CancellationToken.None);
                break;
            case Fault.CutAfterStore:
                context.GetHttpContext().Abort();
                throw new RpcException(new Grpc.Core.Status(StatusCode.Cancelled, "scripted: cut"));
        }
        ack.NextSendAfterMs = PaceFor?.Invoke(batch.Sequence) ?? 0;
        Answered[batch.Sequence] = System.Diagnostics.Stopwatch.GetTimestamp();
        return ack;
    }

    private Ack Store(EventBatch batch)
    {
        var stored = Stored.GetOrAdd((batch.AgentId, batch.Epoch, batch.Sequence), batch);
        bool added = ReferenceEquals(stored, batch);
        if (!added && !stored.Equals(batch))
        {
            Interlocked.Increment(ref _conflicts);
            Conflicting.Enqueue(batch);
            throw new RpcException(new Grpc.Core.Status(StatusCode.AlreadyExists,
                $"batch {batch.Sequence} of epoch '{batch.Epoch}' from agent '{batch.AgentId}' is stored already with other content; nothing of it was stored"));
        }
        if (!added)
        {
            Interlocked.Increment(ref _duplicates);
        }
        lock (_waitLock)
        {
            for (int i = _waiters.Count - 1; i >= 0; i--)
            {
                if (Stored.Count >= _waiters[i].Count)
                {
                    _waiters[i].Done.TrySetResult();
                    _waiters.RemoveAt(i);
                }
            }
        }
        return new Ack { Sequence = batch.Sequence, Duplicate = !added, EventsStored = added ? (uint)batch.Events.Count : 0 };
    }

    internal HeartbeatReply Heartbeat(AgentHeartbeat heartbeat, ServerCallContext context)
    {
        CheckToken(context);
        Heartbeats.Enqueue(heartbeat);
        var reply = HeartbeatReplyFor?.Invoke(heartbeat) ?? new HeartbeatReply();
        reply.ServerTimeUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        return reply;
    }

    private void CheckToken(ServerCallContext context)
    {
        string? header = context.RequestHeaders.GetValue("authorization");
        if (header is null)
        {
            throw new RpcException(new Grpc.Core.Status(StatusCode.Unauthenticated, "no bearer token"));
        }
        if (header != "Bearer " + Token)
        {
            throw new RpcException(new Grpc.Core.Status(StatusCode.Unauthenticated, "unknown agent token"));
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync();
}

/// <summary>The gRPC service, delegating to the <see cref="TestCollector"/> that hosts it.</summary>
internal sealed class TestIngestService(TestCollector collector) : Ingest.IngestBase
{
    public override Task<Ack> Send(EventBatch request, ServerCallContext context) => collector.SendAsync(request, context);

    public override Task<HeartbeatReply> Heartbeat(AgentHeartbeat request, ServerCallContext context) => Task.FromResult(collector.Heartbeat(request, context));
}
