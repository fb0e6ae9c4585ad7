using System.Net;
using Grpc.Core;
using Sluice.Collector.Streaming;
using Sluice.Collector.Tests.Support;
using Sluice.Testing;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Tests.Stream;

/// <summary>
/// The event stream against a real 3-node JetStream cluster on loopback (Debian's nats-server), with a stream of
/// 3 replicas: every stored event reaches a consumer exactly once through a node's death and a resend after a
/// lost acknowledgement, and an outage longer than the buffer is a counted drop.
/// </summary>
public sealed class StreamClusterTests(Xunit.Abstractions.ITestOutputHelper output) : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-stream-").FullName;
    private NatsCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await NatsCluster.StartAsync(3);

    public async Task DisposeAsync()
    {
        await _cluster.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>Sends <paramref name="batches"/> batches of <paramref name="events"/> from each agent, several calls in flight, resending until acknowledged.</summary>
    private static async Task LoadAsync(Sluice.Protocol.V1.Ingest.IngestClient client, string[] agents, int batches, int events, Func<int, Task>? onBatch = null)
    {
        int sent = 0;
        await Parallel.ForEachAsync(
            agents.SelectMany(a => Enumerable.Range(1, batches).Select(s => (Agent: a, Sequence: (ulong)s))),
            new ParallelOptions { MaxDegreeOfParallelism = 4 },
            async (key, ct) =>
            {
                var batch = TestEvents.Batch(key.Agent, key.Sequence, events);
                batch.Epoch = Epoch(key.Agent);
                batch.EpochStartSequence = 1;
                for (int attempt = 1; ; attempt++)
                {
                    try
                    {
                        await client.SendAsync(batch, deadline: DateTime.UtcNow.AddSeconds(60), cancellationToken: ct);
                        break;
                    }
                    catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.ResourceExhausted && attempt < 20)
                    {
                        await Task.Delay(200, ct);
                    }
                }
                if (onBatch is not null)
                {
                    await onBatch(Interlocked.Increment(ref sent));
                }
            });
    }

    /// <summary>An agent's epoch: 32 lowercase hex digits, as the validator wants.</summary>
    private static string Epoch(string agent) => Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData(System.Text.Encoding.UTF8.GetBytes(agent)));

    [Fact]
    public async Task NodeKilledAndRestartedUnderLoad_ConsumerReceivesEveryStoredEventExactlyOnce()
    {
        await using var server = await StreamKit.StartCollectorAsync(_dir, _cluster);
        await using var _ = server.Store;
        var client = StreamKit.Client(server, out var channel);
        using var __ = channel;
        string[] agents = ["agent-a", "agent-b"];
        const int batches = 60, events = 100;

        // The stream exists (the collector created it with 3 replicas) once the first batch is published.
        await LoadAsync(client, agents, 1, events);
        await StreamKit.DrainedAsync(server, TimeSpan.FromMinutes(2));
        var info = await StreamKit.InfoAsync(_cluster);
        Assert.Equal(3, info.Config.NumReplicas);
        Assert.Equal(StreamOptions.DuplicateWindow, info.Config.DuplicateWindow);
        int leader = int.Parse(info.Cluster!.Leader![1..], System.Globalization.CultureInfo.InvariantCulture) - 1;

        // Kill the stream's leader a third into the load, start it again at two thirds.
        Task? restart = null;
        await LoadAsync(client, agents, batches, events, async sent =>
        {
            if (sent == batches * agents.Length / 3)
            {
                _cluster.Kill(leader);
            }
            else if (sent == batches * agents.Length * 2 / 3)
            {
                restart = _cluster.RestartAsync(leader);
                await restart;
            }
        });
        Assert.NotNull(restart);
        await StreamKit.DrainedAsync(server, TimeSpan.FromMinutes(3));

        output.WriteLine($"killed and restarted n{leader + 1}, the stream's leader");
        var stored = await StreamKit.StoredAsync(server.Store);
        Assert.Equal(agents.Length * batches * events, stored.Count);
        var received = await StreamKit.ReadAllAsync(_cluster, note: output.WriteLine);
        var counters = server.StreamCounters!;
        string context = $"stored {stored.Count}, received {received.Count}, enqueued {counters.Enqueued}, published {counters.Published}, duplicates {counters.Duplicates}, dropped {counters.Dropped}, failures {counters.PublishFailures}";
        output.WriteLine(context + $", leader killed n{leader + 1}");
        Assert.True(counters.Dropped == 0, context);
        // Exactly once: one message per message id, and the messages are the stored events, no more, no fewer.
        Assert.Equal(received.Count, received.Select(r => r.MsgId).Distinct().Count());
        Assert.Equal(stored.Order(), received.Select(r => (r.AgentId, r.Sequence, r.Serial)).Order());
        // Every event offered (batch 1 of each agent twice: the warm-up, then again in the load) was acknowledged, as
        // new or as a duplicate; a publish retried after its PubAck was lost is a duplicate too, so published may fall
        // short of stored while the stream still holds each event once.
        Assert.Equal(stored.Count + 2 * events, counters.Enqueued);
        Assert.Equal(counters.Enqueued, counters.Published + counters.Duplicates);
        Assert.True(counters.Duplicates >= 2 * events, context);
        foreach (var r in received.Take(50))
        {
            Assert.Equal($"{StreamSubjects.EncodeToken(r.AgentId)}:E{Epoch(r.AgentId)}:{r.Sequence}:{r.Serial}:{r.Serial - 1}", r.MsgId);
            Assert.StartsWith($"sluice.events.{r.AgentId}.", r.Subject);
        }
    }

    [Fact]
    public async Task ReadBySequence_GivesWhatTheConsumerDelivers()
    {
        // The test kit's fallback when consumers keep stopping short: the same messages, asked for by sequence.
        await using var server = await StreamKit.StartCollectorAsync(_dir, _cluster);
        await using var _ = server.Store;
        await StreamKit.SendAndDrainAsync(server, TestEvents.Batch("agent-a", 1, 10));

        var received = await StreamKit.ReadAllAsync(_cluster);
        Assert.NotEmpty(received);
        var bySequence = await StreamKit.ReadBySequenceAsync(_cluster, received.Select(r => r.StreamSequence));
        Assert.Equal(
            received.Select(r => (r.Subject, r.MsgId, r.AgentId, r.Sequence, r.Serial, r.StreamSequence, r.Payload.GetRawText())),
            bySequence.Select(r => (r.Subject, r.MsgId, r.AgentId, r.Sequence, r.Serial, r.StreamSequence, r.Payload.GetRawText())));
        Assert.All(bySequence, r => Assert.NotEqual("", r.MsgId));
    }

    [Fact]
    public async Task ResendAfterLostAcknowledgement_StoredOnce_ReceivedOnce()
    {
        // The first batch is stored, published, and its acknowledgement lost; the client resends it.
        var faults = new ScriptedIngestFaults().Then(new IngestFault(IngestFaultKind.FailAfterStore));
        await using var server = await StreamKit.StartCollectorAsync(_dir, _cluster, faults: faults);
        await using var _ = server.Store;
        var client = StreamKit.Client(server, out var channel);
        using var __ = channel;

        var batch = TestEvents.Batch("agent-a", 1, 50);
        var lost = await Assert.ThrowsAsync<RpcException>(() => client.SendAsync(batch).ResponseAsync);
        Assert.Equal(StatusCode.Unavailable, lost.StatusCode);
        var ack = await client.SendAsync(batch);
        Assert.True(ack.Duplicate);
        await client.SendAsync(TestEvents.Batch("agent-a", 2, 50));
        await StreamKit.DrainedAsync(server, TimeSpan.FromMinutes(2));

        var counters = server.StreamCounters!;
        // Offered three times (first attempt, resend, next batch): the resend went out again and the stream dropped it.
        Assert.Equal(150, counters.Enqueued);
        Assert.Equal(100, counters.Published);
        Assert.Equal(50, counters.Duplicates);
        var received = await StreamKit.ReadAllAsync(_cluster);
        Assert.Equal(100, received.Count);
        Assert.Equal((await StreamKit.StoredAsync(server.Store)).Order(), received.Select(r => (r.AgentId, r.Sequence, r.Serial)).Order());
    }

    [Fact]
    public async Task ResendLandsOnAnotherCollector_StreamDropsTheSecondCopy()
    {
        // Two collectors over one store (as over one PostgreSQL): the first stores and publishes, its ack is lost,
        // and the agent's resend goes to the second, which finds a duplicate and publishes it again.
        var faults = new ScriptedIngestFaults().Then(new IngestFault(IngestFaultKind.FailAfterStore));
        await using var first = await StreamKit.StartCollectorAsync(_dir, _cluster, faults: faults);
        await using var store = first.Store;
        await using var second = await StreamKit.StartCollectorAsync(_dir, _cluster, store: new SharedStore(store));
        var client1 = StreamKit.Client(first, out var c1);
        var client2 = StreamKit.Client(second, out var c2);
        using var ___ = c1;
        using var ____ = c2;

        var batch = TestEvents.Batch("agent-a", 1, 40);
        await Assert.ThrowsAsync<RpcException>(() => client1.SendAsync(batch).ResponseAsync);
        Assert.True((await client2.SendAsync(batch)).Duplicate);
        await StreamKit.DrainedAsync(first, TimeSpan.FromMinutes(2));
        await StreamKit.DrainedAsync(second, TimeSpan.FromMinutes(2));

        // Whichever publish reached the stream first is the copy kept; the other is acknowledged as a duplicate.
        var (a, b) = (first.StreamCounters!, second.StreamCounters!);
        Assert.Equal((40, 40), (a.Published + b.Published, a.Duplicates + b.Duplicates));
        Assert.Equal((40, 40), (a.Enqueued, b.Enqueued));
        var received = await StreamKit.ReadAllAsync(_cluster);
        Assert.Equal(40, received.Count);
        Assert.Equal(40, received.Select(r => r.MsgId).Distinct().Count());
    }

    [Fact]
    public async Task HostileAgentIds_PublishedOnValidSubjects_ConsumerFiltersByEncodedId_AndDecodesIt()
    {
        await using var server = await StreamKit.StartCollectorAsync(_dir, _cluster);
        await using var _ = server.Store;
        var client = StreamKit.Client(server, out var channel);
        using var __ = channel;
        // What the collector's validator lets through that NATS would read as separators, or that needs encoding.
        string[] agents = ["web-1.example.com", "a:b", "...", "x", "X_y-1"];
        foreach (string agent in agents)
        {
            await client.SendAsync(TestEvents.Batch(agent, 1, 5));
        }
        await StreamKit.DrainedAsync(server, TimeSpan.FromMinutes(2));
        Assert.Equal(25, server.StreamCounters!.Published);

        foreach (string agent in agents)
        {
            string token = StreamSubjects.EncodeToken(agent);
            Assert.Matches("^[A-Za-z0-9_%-]+$", token);
            var received = await StreamKit.ReadAllAsync(_cluster, filter: $"sluice.events.{token}.>");
            Assert.Equal(5, received.Count);
            Assert.All(received, r =>
            {
                Assert.Equal(agent, r.AgentId);
                string[] tokens = r.Subject.Split('.');
                Assert.Equal(4, tokens.Length);
                Assert.Equal(agent, StreamSubjects.DecodeToken(tokens[2]));
                Assert.Equal(OcsfToken(r), tokens[3]);
            });
        }
    }

    [Fact]
    public async Task CredentialsFile_UserAndPassword_PublishesToAClusterThatRequiresThem()
    {
        await using var secured = await NatsCluster.StartAsync(3, user: "sluice", password: "pw-0123456789");
        string file = Path.Combine(_dir, "nats.credentials");
        await PrivateFile.WriteAsync(file, "sluice:pw-0123456789\n");
        await using var server = await StreamKit.StartCollectorAsync(_dir, secured, o => o with { CredentialsFile = file, Replicas = 1 });
        await using var _ = server.Store;
        await StreamKit.SendAndDrainAsync(server, TestEvents.Batch("agent-a", 1, 10));
        Assert.Equal(10, (await StreamKit.ReadAllAsync(secured)).Count);
    }

    [Fact]
    public async Task OcsfFormat_ProcessActivityOnTheProcessSubject_RawRecordsKept()
    {
        await using var server = await StreamKit.StartCollectorAsync(_dir, _cluster, o => o with { Format = StreamFormat.Ocsf, Replicas = 1 });
        await using var _ = server.Store;
        var client = StreamKit.Client(server, out var channel);
        using var __ = channel;
        await client.SendAsync(TestEvents.Batch("web-1.example", 1, 20));
        await StreamKit.DrainedAsync(server, TimeSpan.FromMinutes(2));
        Assert.Equal((20, 0L), (server.StreamCounters!.Published, server.StreamCounters.Dropped));

        var received = await StreamKit.ReadAllAsync(_cluster, filter: "sluice.events.web-1%2Eexample.process");
        Assert.Equal(20, received.Count);
        Assert.All(received, r =>
        {
            Assert.Equal(1007, r.Payload.GetProperty("class_uid").GetInt32());
            Assert.True(r.Payload.TryGetProperty("raw_data", out var raw) && raw.ValueKind != System.Text.Json.JsonValueKind.Null);
        });
    }

    [Fact]
    public async Task StreamDeletedWhileRunning_CreatedAgain_NothingLostThatCameAfter()
    {
        await using var server = await StreamKit.StartCollectorAsync(_dir, _cluster);
        await using var _ = server.Store;
        await StreamKit.SendAndDrainAsync(server, TestEvents.Batch("agent-a", 1, 10));

        await using (var nats = StreamKit.Connect(_cluster))
        {
            Assert.True(await new NATS.Client.JetStream.NatsJSContext(nats).DeleteStreamAsync(StreamOptions.DefaultName));
        }
        await StreamKit.SendAndDrainAsync(server, TestEvents.Batch("agent-a", 2, 10));

        // The publisher found nobody answering, looked for the stream, made it again, and published the second batch.
        var received = await StreamKit.ReadAllAsync(_cluster);
        Assert.Equal(Enumerable.Repeat(2ul, 10), received.Select(r => r.Sequence));
        Assert.Equal((20, 0L), (server.StreamCounters!.Published, server.StreamCounters.Dropped));
        Assert.True(server.StreamCounters.PublishFailures > 0);
    }

    [Fact]
    public async Task ServeProcess_StreamOptions_EnqueuedBeforeTheAck_SigtermFlushesBeforeExit()
    {
        using var collector = CollectorProcess.Start(
        [
            "serve", "--listen", "127.0.0.1:0", "--store", "sqlite:" + Path.Combine(_dir, "serve.db"), "--insecure-no-auth",
            "--stream", _cluster.Urls, "--stream-name", "FLEET", "--stream-replicas", "3", "--stream-buffer-events", "5000", "--stream-max-wait", "200",
        ]);
        var address = await collector.ListeningAsync();
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress(address);
        var client = new Sluice.Protocol.V1.Ingest.IngestClient(channel);
        for (ulong s = 1; s <= 5; s++)
        {
            await client.SendAsync(TestEvents.Batch("web-1", s, 20));
        }
        using (var http = new HttpClient { DefaultRequestVersion = HttpVersion.Version11, Timeout = TimeSpan.FromSeconds(30) })
        using (var doc = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync(new Uri(address, "/api/ingest"))))
        {
            // Taken into the buffer before each call was acknowledged.
            Assert.Equal(100, doc.RootElement.GetProperty("stream_enqueued").GetInt64());
            Assert.Equal(0, doc.RootElement.GetProperty("stream_dropped_events").GetInt64());
        }
        // SIGTERM right away: the collector stops taking calls and flushes what it holds before it exits.
        using (var kill = System.Diagnostics.Process.Start("kill", ["-TERM", collector.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }
        int exit = await collector.ExitAsync(TimeSpan.FromMinutes(1));
        Assert.True(exit == 0, $"the collector exited {exit} after SIGTERM; its output:\n{collector.Output}");
        Assert.Contains("sluice-collector: event stream FLEET (replay)", collector.Output);

        var info = await StreamKit.InfoAsync(_cluster, "FLEET");
        Assert.Equal(3, info.Config.NumReplicas);
        Assert.Equal(["sluice.events.>"], info.Config.Subjects!);
        var received = await StreamKit.ReadAllAsync(_cluster, "FLEET");
        Assert.Equal(100, received.Count);
        Assert.All(received, r => Assert.StartsWith("sluice.events.web-1.", r.Subject));
    }

    /// <summary>The class token the subject must end in: the OCSF mapping's, or "other" while the mapping is not there.</summary>
    private static string OcsfToken(Received r)
    {
        var e = TestEvents.Exec((long)r.Serial, 0, (int)r.Serial - 1);
        return Sluice.Collector.Export.OcsfEvent.Token(StreamSubjects.Activity(e, out _)?.Class ?? Sluice.Collector.Export.EventClass.Other);
    }

    [Fact]
    public async Task WholeClusterDownLongerThanTheBuffer_IngestAcknowledges_DropIsCountedExactly_InApiAndMetrics()
    {
        const int buffer = 300;
        using var log = new LogLines();
        await using var server = await StreamKit.StartCollectorAsync(_dir, _cluster,
            o => o with { BufferEvents = buffer, MaxWait = TimeSpan.FromMilliseconds(100), InFlight = 8 }, log: log);
        await using var _ = server.Store;
        var client = StreamKit.Client(server, out var channel);
        using var __ = channel;

        await client.SendAsync(TestEvents.Batch("agent-a", 1, 100));
        await StreamKit.DrainedAsync(server, TimeSpan.FromMinutes(2));

        _cluster.KillAll();
        // Far more than the buffer holds; each call is still acknowledged (a generous deadline: this is not a timing test).
        var slowest = TimeSpan.Zero;
        for (ulong s = 2; s <= 21; s++)
        {
            var watch = System.Diagnostics.Stopwatch.StartNew();
            var ack = await client.SendAsync(TestEvents.Batch("agent-a", s, 100), deadline: DateTime.UtcNow.AddSeconds(60));
            slowest = TimeSpan.FromTicks(Math.Max(slowest.Ticks, watch.Elapsed.Ticks));
            Assert.Equal(100u, ack.EventsStored);
        }
        // Reported, not asserted: a loaded machine decides how long a call takes.
        output.WriteLine($"slowest call during the outage: {slowest.TotalMilliseconds:0} ms (--stream-max-wait 100 ms)");
        var counters = server.StreamCounters!;
        Assert.True(counters.DroppedBufferFull > 0, $"nothing dropped: enqueued {counters.Enqueued}, buffered {counters.Buffered}");

        using var http = new HttpClient { DefaultRequestVersion = HttpVersion.Version11, Timeout = TimeSpan.FromSeconds(30) };
        string api = await http.GetStringAsync(new Uri(server.Address, "/api/ingest"));
        using (var doc = System.Text.Json.JsonDocument.Parse(api))
        {
            Assert.Equal(counters.Dropped, doc.RootElement.GetProperty("stream_dropped_events").GetInt64());
            Assert.Equal(counters.DroppedBufferFull, doc.RootElement.GetProperty("stream_dropped_buffer_full").GetInt64());
            Assert.True(doc.RootElement.GetProperty("stream_buffered").GetInt64() > 0);
        }

        await WaitForAsync(() => log.With(308).Count == 1, "the log says dropping started");

        await _cluster.RestartAllAsync();
        await StreamKit.DrainedAsync(server, TimeSpan.FromMinutes(3));
        var stored = await StreamKit.StoredAsync(server.Store);
        var received = await StreamKit.ReadAllAsync(_cluster);
        Assert.Equal(2100, stored.Count);
        Assert.Equal(received.Count, received.Select(r => r.MsgId).Distinct().Count());
        // Every stored event is either in the stream or counted as dropped; none is both.
        Assert.Equal(stored.Count, received.Count + counters.Dropped);
        Assert.Equal(counters.DroppedBufferFull, counters.Dropped);
        Assert.Subset(stored.ToHashSet(), received.Select(r => (r.AgentId, r.Sequence, r.Serial)).ToHashSet());

        string metrics = await http.GetStringAsync(new Uri(server.Address, "/metrics"));
        var (exitCode, problems) = Promtool.CheckMetrics(metrics);
        Assert.True(exitCode == 0 && problems.Length == 0, $"promtool check metrics: exit {exitCode}\n{problems}\n---\n{metrics}");
        var families = PrometheusText.Families(metrics);
        var documented = PrometheusText.Documented(PrometheusText.RepoRoot(), "Collector metrics")
            .Concat(PrometheusText.Documented(PrometheusText.RepoRoot(), "Collector stream metrics"));
        Assert.Equal(documented.Order(), families.Keys.Order());
        var samples = PrometheusText.Samples(metrics);
        Assert.Equal(counters.DroppedBufferFull, samples["sluice_stream_dropped_events_total{reason=\"buffer_full\"}"]);
        Assert.Equal(0, samples["sluice_stream_dropped_events_total{reason=\"shutdown\"}"]);
        Assert.Equal(counters.Published, samples["sluice_stream_published_total"]);
        // No resends here: a duplicate is a publish retried after its PubAck was lost to the outage, kept once.
        Assert.Equal(received.Count, counters.Published + counters.Duplicates);
        Assert.Equal(0, samples["sluice_stream_buffered"]);
        // Ten seconds without a drop: the log says it stopped, with the total.
        await WaitForAsync(() => log.With(310).Count == 1, "the log says dropping stopped");
        Assert.Contains($"{counters.Dropped} dropped in all", log.With(310).Single());
    }

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting: " + what);
            await Task.Delay(200);
        }
    }
}

/// <summary>A second collector's view of the first one's store: not disposed by it.</summary>
internal sealed class SharedStore(Sluice.Collector.Storage.IEventStore inner) : DelegatingStore(inner)
{
    public override ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
