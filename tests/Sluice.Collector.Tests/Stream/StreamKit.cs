using System.Text.Json;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using Sluice.Collector.Hosting;
using Sluice.Collector.Storage;
using Sluice.Collector.Streaming;
using Sluice.Collector.Tests.Support;
using IngestClient = Sluice.Protocol.V1.Ingest.IngestClient;

namespace Sluice.Collector.Tests.Stream;

/// <summary>One message as a consumer of the stream received it.</summary>
internal sealed record Received(string Subject, string MsgId, string AgentId, ulong Sequence, ulong Serial, ulong StreamSequence, JsonElement Payload);

/// <summary>What the stream tests share: a collector with <c>--stream</c> in this process, and a consumer that reads the stream whole.</summary>
internal static class StreamKit
{
    /// <summary>A collector (SQLite store in <paramref name="dir"/>, any agent accepted) publishing to <paramref name="cluster"/>.</summary>
    public static Task<CollectorServer> StartCollectorAsync(string dir, NatsCluster cluster, Func<StreamOptions, StreamOptions>? configure = null,
        ScriptedIngestFaults? faults = null, IEventStore? store = null, LogLines? log = null)
    {
        var stream = new StreamOptions { Servers = StreamOptions.ParseServers(cluster.Urls), Replicas = 3 };
        return CollectorServer.StartAsync(new CollectorOptions
        {
            Listen = "127.0.0.1:0",
            Store = new StoreLocation(StoreKind.Sqlite, Path.Combine(dir, $"events-{Guid.NewGuid():N}.db")),
            AllowAnonymous = true,
            Stream = configure is null ? stream : configure(stream),
            MeterName = "Sluice.Collector.Test." + Guid.NewGuid().ToString("N"),
        }, store, log is null ? null : log.AddTo, services: faults is null ? null : s => s.AddGrpc(g => g.Interceptors.Add<IngestFaultInterceptor>(faults)));
    }

    public static IngestClient Client(CollectorServer server, out GrpcChannel channel)
    {
        channel = GrpcChannel.ForAddress(server.Address, new GrpcChannelOptions { MaxSendMessageSize = null, MaxReceiveMessageSize = null });
        return new IngestClient(channel);
    }

    /// <summary>Sends <paramref name="batch"/> to the collector on a channel of its own, then waits until the collector's buffer is drained (<see cref="DrainedAsync"/>).</summary>
    public static async Task SendAndDrainAsync(CollectorServer server, Sluice.Protocol.V1.EventBatch batch)
    {
        var client = Client(server, out var channel);
        using (channel)
        {
            await client.SendAsync(batch);
        }
        await DrainedAsync(server, TimeSpan.FromMinutes(2));
    }

    /// <summary>Waits until every event the collector took into its buffer has an outcome (published, duplicate or dropped).</summary>
    public static async Task DrainedAsync(CollectorServer server, TimeSpan timeout)
    {
        var s = server.StreamCounters!;
        var deadline = DateTime.UtcNow + timeout;
        while (!(s.Buffered == 0 && s.Enqueued == s.Published + s.Duplicates + s.DroppedShutdown + s.DroppedUnwritable))
        {
            Assert.True(DateTime.UtcNow < deadline,
                $"the stream did not drain in {timeout}: enqueued {s.Enqueued}, published {s.Published}, duplicates {s.Duplicates}, buffered {s.Buffered}, failures {s.PublishFailures}, connected {s.Connected}");
            await Task.Delay(200);
        }
    }

    public static NatsConnection Connect(NatsCluster cluster) => new(new NatsOpts
    {
        Url = cluster.Urls,
        AuthOpts = cluster.User is null ? NatsAuthOpts.Default : new NatsAuthOpts { Username = cluster.User, Password = cluster.Password },
        RequestTimeout = TimeSpan.FromSeconds(10),
    });

    /// <summary>
    /// Every message of stream <paramref name="name"/> (matching <paramref name="filter"/>), read by a consumer from the
    /// start, once the stream's replicas are all current (a node started again catches up first); one entry per stream
    /// sequence, in order.
    /// </summary>
    /// <remarks>
    /// A reader whose consumer stops short for 20 s makes another and reads again from the start, keeping what it has
    /// by stream sequence, and says so through <paramref name="note"/>. Seen once on nats-server 2.9.10 under heavy load,
    /// after the stream's leader was SIGKILLed and restarted: a consumer (on one replica) found 33 messages fewer than the
    /// leader's count, with every replica reported current; a consumer placed anew read them all. Once (a fresh-clone
    /// run), consumers placed anew on every replica stopped at the same 62 short: after the third new consumer, an
    /// unfiltered read asks the stream for each missing sequence (<see cref="GetBySequenceAsync"/>), and fails if the
    /// stream no longer holds one.
    /// </remarks>
    public static async Task<List<Received>> ReadAllAsync(NatsCluster cluster, string name = StreamOptions.DefaultName, string? filter = null,
        TimeSpan? timeout = null, Action<string>? note = null)
    {
        await using var nats = Connect(cluster);
        var js = new NatsJSContext(nats);
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(3));
        var info = await HealthyAsync(js, name, cts.Token);
        var consumer = await ConsumerAsync(js, name, filter, cts.Token);
        // All there is: the stream's count, or what a filtered consumer found pending when it was made (after the writes).
        long expected = filter is null ? info.State.Messages : (long)consumer.Info.NumPending;
        var received = new SortedDictionary<ulong, Received>();
        int quiet = 0;
        int rereads = 0;
        while (received.Count < expected)
        {
            int before = received.Count;
            try
            {
                await foreach (var msg in consumer.FetchAsync<byte[]>(new NatsJSFetchOpts { MaxMsgs = 1000, Expires = TimeSpan.FromSeconds(2) }, cancellationToken: cts.Token))
                {
                    string msgId = msg.Headers is { } h && h.TryGetValue("Nats-Msg-Id", out var id) ? id.ToString() : "";
                    ulong sequence = msg.Metadata?.Sequence.Stream ?? throw new InvalidOperationException("a JetStream message without metadata");
                    received.TryAdd(sequence, Parse(msg.Subject, msgId, sequence, msg.Data!));
                }
            }
            catch (OperationCanceledException) when (cts.IsCancellationRequested)
            {
                throw new TimeoutException($"read {received.Count} of {expected} messages of {name} (filter {filter}); consumer on {consumer.Info.Cluster?.Leader} found {consumer.Info.NumPending} pending at its start; stream leader {info.Cluster?.Leader}, last sequence {info.State.LastSeq}");
            }
            quiet = received.Count == before ? quiet + 1 : 0;
            if (quiet == 10 && received.Count < expected && filter is null && ++rereads > 2)
            {
                // Consumers placed anew keep missing the same messages: ask the stream for each by its sequence.
                var missing = new List<ulong>();
                for (ulong seq = info.State.FirstSeq; seq <= info.State.LastSeq; seq++)
                {
                    if (!received.ContainsKey(seq))
                    {
                        missing.Add(seq);
                    }
                }
                foreach (ulong seq in missing)
                {
                    received[seq] = await GetBySequenceAsync(nats, name, seq, cts.Token);
                }
                note?.Invoke($"{missing.Count} messages that no consumer delivered were read from the stream by sequence ({missing.FirstOrDefault()}..{missing.LastOrDefault()})");
                quiet = 0;
                continue;
            }
            if (quiet == 10 && received.Count < expected)
            {
                note?.Invoke($"consumer on {consumer.Info.Cluster?.Leader} stopped at {received.Count} of {expected} messages (it found {consumer.Info.NumPending} at its start; stream leader {info.Cluster?.Leader}); reading again with a new consumer");
                consumer = await ConsumerAsync(js, name, filter, cts.Token);
                quiet = 0;
            }
        }
        return [.. received.Values];
    }

    /// <summary>Messages of stream <paramref name="name"/> read one by one by their sequences, as the fallback of <see cref="ReadAllAsync"/> reads them.</summary>
    public static async Task<List<Received>> ReadBySequenceAsync(NatsCluster cluster, IEnumerable<ulong> sequences, string name = StreamOptions.DefaultName)
    {
        await using var nats = Connect(cluster);
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var read = new List<Received>();
        foreach (ulong sequence in sequences)
        {
            read.Add(await GetBySequenceAsync(nats, name, sequence, cts.Token));
        }
        return read;
    }

    private static Received Parse(string subject, string msgId, ulong sequence, byte[] data)
    {
        using var doc = JsonDocument.Parse(data);
        var root = doc.RootElement.Clone();
        return new Received(subject, msgId,
            root.TryGetProperty("agent_id", out var a) ? a.GetString()! : "",
            root.TryGetProperty("batch_sequence", out var q) ? q.GetUInt64() : 0,
            root.TryGetProperty("serial", out var r) ? r.GetUInt64() : 0,
            sequence, root);
    }

    /// <summary>
    /// One message of the stream by its sequence, through the JetStream API's message get (answered by the stream's
    /// leader). Seen on nats-server 2.9.10 after the stream's leader was SIGKILLed and restarted: every replica counted
    /// the messages, yet consumers on each of them stopped 62 short, again and again; the stream still held them.
    /// </summary>
    /// <exception cref="InvalidOperationException">The stream no longer holds the sequence (its error, as it gave it).</exception>
    private static async Task<Received> GetBySequenceAsync(NatsConnection nats, string name, ulong sequence, CancellationToken cancellationToken)
    {
        var reply = await nats.RequestAsync<byte[], byte[]>($"$JS.API.STREAM.MSG.GET.{name}",
            System.Text.Encoding.UTF8.GetBytes($"{{\"seq\":{sequence}}}"), cancellationToken: cancellationToken);
        using var doc = JsonDocument.Parse(reply.Data!);
        if (!doc.RootElement.TryGetProperty("message", out var message))
        {
            throw new InvalidOperationException($"stream {name} does not give sequence {sequence}: {doc.RootElement.GetRawText()}");
        }
        string headers = message.TryGetProperty("hdrs", out var h) ? System.Text.Encoding.UTF8.GetString(h.GetBytesFromBase64()) : "";
        string msgId = headers.Split("\r\n").Select(line => line.Split(':', 2)).Where(kv => kv.Length == 2 && kv[0].Trim() == "Nats-Msg-Id")
            .Select(kv => kv[1].Trim()).FirstOrDefault() ?? "";
        return Parse(message.GetProperty("subject").GetString()!, msgId, sequence, message.GetProperty("data").GetBytesFromBase64());
    }

    // One filter_subject, not the ordered consumer's filter_subjects: nats-server 2.9 knows only the former and ignores the latter.
    // A JetStream API request can go unanswered (or answered 503) while the cluster's meta leader or the stream's leader is
    // being elected, as after a test that killed a node; the request is made again until the caller's deadline. Seen once in
    // a fresh-clone run: consumer creation right after the stream reported healthy got no response.
    private static async Task<INatsJSConsumer> ConsumerAsync(NatsJSContext js, string name, string? filter, CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                return await js.CreateOrUpdateConsumerAsync(name, new ConsumerConfig
                {
                    Name = "read-" + Guid.NewGuid().ToString("N"),
                    FilterSubject = filter ?? StreamSubjects.Filter,
                    AckPolicy = ConsumerConfigAckPolicy.None,
                    DeliverPolicy = ConsumerConfigDeliverPolicy.All,
                    InactiveThreshold = TimeSpan.FromMinutes(1),
                }, cancellationToken);
            }
            catch (Exception e) when (Unanswered(e) && !cancellationToken.IsCancellationRequested)
            {
            }
            await Task.Delay(250, cancellationToken);
        }
    }

    private static bool Unanswered(Exception e) =>
        e is NatsJSApiNoResponseException || (e is NatsJSApiException api && api.Error.Code == 503);

    /// <summary>Waits until the stream has a leader and every replica is current; its info then.</summary>
    private static async Task<StreamInfo> HealthyAsync(NatsJSContext js, string name, CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                var stream = await js.GetStreamAsync(name, cancellationToken: cancellationToken);
                var c = stream.Info.Cluster;
                if (c is null || (c.Leader is { Length: > 0 } && (c.Replicas ?? []).All(p => p.Current && !p.Offline)))
                {
                    return stream.Info;
                }
            }
            catch (Exception e) when (Unanswered(e) && !cancellationToken.IsCancellationRequested)
            {
            }
            await Task.Delay(250, cancellationToken);
        }
    }

    /// <summary>(agent, batch sequence, serial) of every event the store holds.</summary>
    public static async Task<List<(string Agent, ulong Sequence, ulong Serial)>> StoredAsync(IEventStore store)
    {
        var keys = new List<(string, ulong, ulong)>();
        await foreach (var e in store.ReadEventsAsync(new EventQuery(), CancellationToken.None))
        {
            keys.Add((e.AgentId, e.Sequence, e.Event.Serial));
        }
        return keys;
    }

    /// <summary>The stream's info: its leader's server name, its message count.</summary>
    public static async Task<StreamInfo> InfoAsync(NatsCluster cluster, string name = StreamOptions.DefaultName)
    {
        await using var nats = Connect(cluster);
        var js = new NatsJSContext(nats);
        var stream = await js.GetStreamAsync(name);
        return stream.Info;
    }
}
