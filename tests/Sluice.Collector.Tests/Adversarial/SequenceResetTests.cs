using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Sluice.Collector.Cli;
using Sluice.Collector.Storage;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;
using static Sluice.Collector.Tests.Support.CollectorHarness;

namespace Sluice.Collector.Tests.Adversarial;

/// <summary>
/// Issue 14, case 1: an agent whose spool state is lost starts again at sequence 1. Batches are keyed on
/// (agent, epoch, sequence) with a content digest: a new epoch is stored, a true resend is a duplicate, other
/// content under a taken key is ALREADY_EXISTS (never a duplicate), and gaps, refusals and interleaving show in
/// <c>stats</c>. Through the real gRPC collector, on each store.
/// </summary>
public abstract class SequenceResetTests : PerStoreTests
{
    private protected SequenceResetTests(IStoreFactory stores) : base(stores)
    {
    }

    private const string EpochA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1";
    private const string EpochB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2";
    private const int EventsPerBatch = 4;

    /// <summary>A batch of agent-a in <paramref name="epoch"/>; <paramref name="serial"/> makes its events distinct; made at <paramref name="made"/>.</summary>
    private static EventBatch Batch(string epoch, ulong sequence, long serial, int events = EventsPerBatch, long made = 0, string? bootId = null)
    {
        var batch = TestEvents.Batch(AgentA, sequence, events, firstSerial: serial, startUnixMs: TestEvents.BaseUnixMs + serial * 10);
        batch.Epoch = epoch;
        batch.EpochStartSequence = 1;
        if (made != 0)
        {
            batch.CreatedUnixMs = made;
        }
        if (bootId is not null)
        {
            batch.BootId = bootId;
        }
        return batch;
    }

    private static async Task<JsonElement> StatsJsonAsync(string spec)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        Assert.Equal(0, await StatsCommand.RunAsync(spec, json: true, stdout, stderr, CancellationToken.None));
        Assert.Equal("", stderr.ToString());
        using var doc = JsonDocument.Parse(stdout.ToString());
        return doc.RootElement.GetProperty("agents").EnumerateArray().Single(a => a.GetProperty("agent_id").GetString() == AgentA).Clone();
    }

    private static (int Epochs, long DeliveryGaps, long RefusedBatches, long RefusedEvents, long Conflicts, bool InterleavedEpochs, bool InterleavedBootIds) Delivery(JsonElement a) =>
        (a.GetProperty("epochs").GetInt32(), a.GetProperty("delivery_gaps").GetInt64(), a.GetProperty("refused_batches").GetInt64(),
         a.GetProperty("refused_events").GetInt64(), a.GetProperty("conflicts").GetInt64(),
         a.GetProperty("interleaved_epochs").GetBoolean(), a.GetProperty("interleaved_boot_ids").GetBoolean());

    private static async Task<JsonElement> IngestCountersAsync(CollectorHarness h)
    {
        using var http = new HttpClient { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using var doc = JsonDocument.Parse(await http.GetStringAsync(new Uri(h.Server.Address, "/api/ingest")));
        return doc.RootElement.Clone();
    }

    private static async Task<List<byte[]>> ExportedAsync(IEventStore store) =>
        [.. (await StoreSnapshot.EventsAsync(store)).Select(e => e.Event.ToByteArray()).OrderBy(Convert.ToBase64String)];

    private static List<byte[]> EventsOf(IEnumerable<EventBatch> batches) =>
        [.. batches.SelectMany(b => b.Events).Select(e => e.ToByteArray()).OrderBy(Convert.ToBase64String)];

    [Fact]
    public async Task Send_SpoolStateLostAndSequencesStartAgainInNewEpoch_EveryBatchStoredTwoEpochsNoGaps()
    {
        var (store, spec) = await Stores.CreateAsync();
        await using var h = await CollectorHarness.StartAsync(store);
        var client = h.Client();
        const int n = 5, m = 3;
        var before = Enumerable.Range(1, n).Select(s => Batch(EpochA, (ulong)s, serial: 100 * s)).ToList();
        // The spool is gone: a new epoch, sequences from 1 again, other events.
        var after = Enumerable.Range(1, m).Select(s => Batch(EpochB, (ulong)s, serial: 10_000 + 100 * s)).ToList();

        var acks = new List<Ack>();
        foreach (var b in before.Concat(after))
        {
            acks.Add(await client.SendAsync(b, Bearer(TokenA)));
        }

        Assert.All(acks, a => Assert.Equal((false, (uint)EventsPerBatch), (a.Duplicate, a.EventsStored)));
        Assert.Equal(EventsOf(before.Concat(after)), await ExportedAsync(h.Store));
        var stats = await StatsJsonAsync(spec);
        Assert.Equal((n + m, (n + m) * EventsPerBatch, 0), (stats.GetProperty("batches").GetInt32(), stats.GetProperty("events").GetInt32(), stats.GetProperty("duplicates").GetInt32()));
        Assert.Equal((2, 0L, 0L, 0L, 0L, false, false), Delivery(stats));
        var counters = await IngestCountersAsync(h);
        Assert.Equal((n + m, 0, 0), (counters.GetProperty("batches_stored").GetInt32(), counters.GetProperty("duplicates").GetInt32(), counters.GetProperty("refused_already_exists").GetInt32()));
    }

    [Fact]
    public async Task Send_SameKeyOtherContent_AlreadyExistsNamingBothDigestsNothingStoredCountedNeverADuplicate()
    {
        var (store, spec) = await Stores.CreateAsync();
        var log = new CapturedLog();
        await using var h = await CollectorHarness.StartAsync(store, logging: l => l.AddProvider(log));
        var client = h.Client();
        var sent = Enumerable.Range(1, 3).Select(s => Batch(EpochA, (ulong)s, serial: 100 * s)).ToList();
        foreach (var b in sent)
        {
            await client.SendAsync(b, Bearer(TokenA));
        }
        var exportedBefore = await ExportedAsync(h.Store);
        // Lost state, but the epoch kept (a copied spool, a cloned machine): (A, 1) again with other events.
        var other = Batch(EpochA, 1, serial: 50_000, events: 7);

        var e1 = await Assert.ThrowsAsync<RpcException>(() => client.SendAsync(other, Bearer(TokenA)).ResponseAsync);
        var e2 = await Assert.ThrowsAsync<RpcException>(() => client.SendAsync(other, Bearer(TokenA)).ResponseAsync);
        var e3 = await Assert.ThrowsAsync<RpcException>(() => h.Client().SendAsync(other, Bearer(TokenA)).ResponseAsync);
        var resend = await client.SendAsync(sent[0], Bearer(TokenA));

        Assert.All([e1, e2, e3], e => Assert.Equal(StatusCode.AlreadyExists, e.StatusCode));
        string stored = BatchDigest.Of(sent[0]), refused = BatchDigest.Of(other);
        Assert.NotEqual(stored, refused);
        Assert.Equal(
            $"batch 1 of epoch '{EpochA}' from agent '{AgentA}' refused: its key is stored already with other content " +
            $"(stored digest {stored}, this batch's digest {refused}); nothing of it was stored. Set it aside and start a new epoch",
            e1.Status.Detail);
        // A true resend of what is stored is still a duplicate.
        Assert.Equal((1ul, true, 0u), (resend.Sequence, resend.Duplicate, resend.EventsStored));
        Assert.Equal(exportedBefore, await ExportedAsync(h.Store));
        Assert.Equal(EventsOf(sent), exportedBefore);
        var counters = await IngestCountersAsync(h);
        Assert.Equal((3, 3, 1, 0), (counters.GetProperty("batches_stored").GetInt32(), counters.GetProperty("refused_already_exists").GetInt32(),
            counters.GetProperty("duplicates").GetInt32(), counters.GetProperty("refused_invalid").GetInt32()));
        var stats = await StatsJsonAsync(spec);
        Assert.Equal((3, 3 * EventsPerBatch, 1), (stats.GetProperty("batches").GetInt32(), stats.GetProperty("events").GetInt32(), stats.GetProperty("duplicates").GetInt32()));
        // One key refused (three times): its 7 events are loss, its sequence is no gap.
        Assert.Equal((1, 0L, 1L, 7L, 1L, false, false), Delivery(stats));
        // Logged once for the three, within the minute.
        var lines = log.Lines.Where(l => l.EventId == 104).ToList();
        var line = Assert.Single(lines);
        Assert.Equal(LogLevel.Warning, line.Level);
        Assert.Contains($"Refused batch 1 of epoch '{EpochA}' from {AgentA}: ALREADY_EXISTS", line.Message);
        Assert.Contains($"stored digest {stored}, this batch's {refused}", line.Message);
    }

    [Fact]
    public async Task Send_TokenHolderTakesTheNextSequencesWithEmptyBatches_RealBatchesRefusedAsConflictsAndCounted()
    {
        var (store, spec) = await Stores.CreateAsync();
        await using var h = await CollectorHarness.StartAsync(store);
        var agent = h.Client();
        var intruder = h.Client();
        const int n = 4;
        for (int s = 1; s <= n; s++)
        {
            await agent.SendAsync(Batch(EpochA, (ulong)s, serial: 100 * s), Bearer(TokenA));
        }

        var taken = new List<Ack>();
        for (int s = n + 1; s <= n + 3; s++)
        {
            taken.Add(await intruder.SendAsync(Batch(EpochA, (ulong)s, serial: 0, events: 0), Bearer(TokenA)));
        }
        var refused = new List<RpcException>();
        for (int s = n + 1; s <= n + 3; s++)
        {
            refused.Add(await Assert.ThrowsAsync<RpcException>(() => agent.SendAsync(Batch(EpochA, (ulong)s, serial: 100 * s), Bearer(TokenA)).ResponseAsync));
        }

        // The empty batches went in first and hold the keys; what they displaced is refused loudly, not acknowledged.
        Assert.All(taken, a => Assert.Equal((false, 0u), (a.Duplicate, a.EventsStored)));
        Assert.All(refused, e => Assert.Equal(StatusCode.AlreadyExists, e.StatusCode));
        Assert.Equal(n * EventsPerBatch, (await StoreSnapshot.EventsAsync(h.Store)).Count);
        var counters = await IngestCountersAsync(h);
        Assert.Equal((n + 3, 3, 0), (counters.GetProperty("batches_stored").GetInt32(), counters.GetProperty("refused_already_exists").GetInt32(), counters.GetProperty("duplicates").GetInt32()));
        var stats = await StatsJsonAsync(spec);
        Assert.Equal((1, 0L, 3L, 3L * EventsPerBatch, 3L, false, false), Delivery(stats));
    }

    [Fact]
    public async Task Send_ConcurrentDifferentContentUnderOneKey_ExactlyOneStoredTheOthersAlreadyExists()
    {
        var (store, spec) = await Stores.CreateAsync();
        await using var h = await CollectorHarness.StartAsync(store);
        var clients = Enumerable.Range(0, 4).Select(_ => h.Client()).ToArray();
        const int keys = 6, contents = 4;
        var batches = (from k in Enumerable.Range(1, keys) from c in Enumerable.Range(1, contents) select Batch(EpochA, (ulong)k, serial: 1000 * k + 100 * c)).ToList();

        var results = await Task.WhenAll(batches.Select(async (b, i) =>
        {
            try
            {
                var ack = await clients[i % clients.Length].SendAsync(b, Bearer(TokenA));
                return (Batch: b, Ack: ack, Code: StatusCode.OK);
            }
            catch (RpcException e)
            {
                return (Batch: b, Ack: (Ack?)null, Code: e.StatusCode);
            }
        }));

        foreach (var key in results.GroupBy(r => r.Batch.Sequence))
        {
            var stored = Assert.Single(key, r => r.Code == StatusCode.OK);
            Assert.Equal((false, (uint)EventsPerBatch), (stored.Ack!.Duplicate, stored.Ack.EventsStored));
            Assert.Equal(contents - 1, key.Count(r => r.Code == StatusCode.AlreadyExists));
        }
        var winners = results.Where(r => r.Code == StatusCode.OK).Select(r => r.Batch).ToList();
        Assert.Equal(EventsOf(winners), await ExportedAsync(h.Store));
        var counters = await IngestCountersAsync(h);
        Assert.Equal((keys, keys * (contents - 1), 0), (counters.GetProperty("batches_stored").GetInt32(), counters.GetProperty("refused_already_exists").GetInt32(), counters.GetProperty("duplicates").GetInt32()));
        var stats = await StatsJsonAsync(spec);
        // One refusal row per key, whichever of the losing contents was recorded last.
        Assert.Equal((1, 0L, (long)keys, (long)keys * EventsPerBatch, (long)keys, false, false), Delivery(stats));
    }

    [Fact]
    public async Task Send_TwoClonesAlternating_InterleavedEpochsAndBootIdsInStats()
    {
        var (store, spec) = await Stores.CreateAsync();
        await using var h = await CollectorHarness.StartAsync(store);
        var cloneX = h.Client();
        var cloneY = h.Client();
        long t = TestEvents.BaseUnixMs + 3_600_000;
        async Task HeartbeatAsync(Protocol.V1.Ingest.IngestClient client, string boot, string epoch, long time) =>
            await client.HeartbeatAsync(new AgentHeartbeat
            {
                AgentId = AgentA, Hostname = "agent-a.example", BootId = boot, Version = "1", Mode = "unicast", TimeUnixMs = time, Epoch = epoch,
            }, Bearer(TokenA));

        // Two machines from one image: the same agent id and token, each its own spool (epoch) and boot id, in turns.
        for (int round = 0; round < 3; round++)
        {
            await HeartbeatAsync(cloneX, "boot-x", EpochA, t += 1000);
            await cloneX.SendAsync(Batch(EpochA, (ulong)round + 1, serial: 100 * round + 1, made: t += 1000, bootId: "boot-x"), Bearer(TokenA));
            await HeartbeatAsync(cloneY, "boot-y", EpochB, t += 1000);
            await cloneY.SendAsync(Batch(EpochB, (ulong)round + 1, serial: 100 * round + 50, made: t += 1000, bootId: "boot-y"), Bearer(TokenA));
        }

        var stats = await StatsJsonAsync(spec);
        Assert.Equal((2, 0L, 0L, 0L, 0L, true, true), Delivery(stats));
        var text = new StringWriter();
        Assert.Equal(0, await StatsCommand.RunAsync(spec, json: false, text, new StringWriter(), CancellationToken.None));
        Assert.EndsWith(" epochs,boot-ids", text.ToString().Split('\n')[1]);
    }

    [Fact]
    public async Task Send_SequenceMissingUntilItArrives_DeliveryGapThenNone()
    {
        var (store, spec) = await Stores.CreateAsync();
        await using var h = await CollectorHarness.StartAsync(store);
        var client = h.Client();
        foreach (ulong s in new ulong[] { 1, 2, 4 })
        {
            await client.SendAsync(Batch(EpochA, s, serial: 100 * (long)s), Bearer(TokenA));
        }
        var withGap = await StatsJsonAsync(spec);
        var gapRange = withGap.GetProperty("delivery").GetProperty("gap_ranges").EnumerateArray().Single();

        await client.SendAsync(Batch(EpochA, 3, serial: 300), Bearer(TokenA));
        var filled = await StatsJsonAsync(spec);

        Assert.Equal((1, 1L, 0L, 0L, 0L, false, false), Delivery(withGap));
        Assert.Equal((EpochA, 3ul, 3ul), (gapRange.GetProperty("epoch").GetString(), gapRange.GetProperty("from").GetUInt64(), gapRange.GetProperty("to").GetUInt64()));
        Assert.Equal((1, 0L, 0L, 0L, 0L, false, false), Delivery(filled));
        Assert.Empty(filled.GetProperty("delivery").GetProperty("gap_ranges").EnumerateArray());
    }

    [Fact]
    public async Task Send_SequencesTheAgentReportsItsSpoolDropped_NotADeliveryGap()
    {
        var (store, spec) = await Stores.CreateAsync();
        await using var h = await CollectorHarness.StartAsync(store);
        var client = h.Client();
        await client.SendAsync(Batch(EpochA, 1, serial: 100), Bearer(TokenA));
        // 2 and 3 were dropped by the spool's cap; the agent says so in the next batch it sends.
        var next = Batch(EpochA, 4, serial: 400);
        next.Loss.SpoolDroppedBatches = 2;
        next.Loss.SpoolDroppedEvents = 30;
        await client.SendAsync(next, Bearer(TokenA));

        var stats = await StatsJsonAsync(spec);

        Assert.Equal((1, 0L, 0L, 0L, 0L, false, false), Delivery(stats));
        var delivery = stats.GetProperty("delivery");
        Assert.Equal((2L, 2L), (delivery.GetProperty("missing_sequences").GetInt64(), delivery.GetProperty("explained_by_agent").GetInt64()));
        Assert.Equal((2L, 30L), (stats.GetProperty("loss").GetProperty("spool_dropped_batches").GetInt64(), stats.GetProperty("loss").GetProperty("spool_dropped_events").GetInt64()));
    }

    /// <summary>Log lines written through the collector's logging, for a test to read.</summary>
    private sealed class CapturedLog : ILoggerProvider
    {
        public ConcurrentQueue<(int EventId, LogLevel Level, string Message)> Lines { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this);

        public void Dispose()
        {
        }

        private sealed class Logger(CapturedLog log) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                log.Lines.Enqueue((eventId.Id, logLevel, formatter(state, exception)));
        }
    }
}

public sealed class SqliteSequenceResetTests() : SequenceResetTests(new SqliteStoreFactory());

[Collection(PostgresCollection.Name)]
public sealed class PostgresSequenceResetTests(PostgresFixture pg) : SequenceResetTests(new PostgresStoreFactory(pg.Cluster));
