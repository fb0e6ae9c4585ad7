using Grpc.Core;
using Sluice.Collector.Ingest;
using Sluice.Collector.Storage;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;
using static Sluice.Collector.Tests.Support.CollectorHarness;

namespace Sluice.Collector.Tests.Ingest;

/// <summary>The ingest service over a real Kestrel and a real gRPC client, against each store.</summary>
public abstract class IngestServiceTests : PerStoreTests
{
    private protected IngestServiceTests(IStoreFactory stores) : base(stores)
    {
    }

    private async Task<CollectorHarness> StartAsync(IngestLimits? limits = null)
    {
        var (store, _) = await Stores.CreateAsync();
        return await CollectorHarness.StartAsync(store, limits);
    }

    /// <summary>Stores two good batches so refusal tests can check that nothing already there changes.</summary>
    private static async Task<string> SeedAsync(CollectorHarness h)
    {
        var client = h.Client();
        await client.SendAsync(TestEvents.Batch(AgentA, 1, 20), Bearer(TokenA));
        await client.SendAsync(TestEvents.Batch(AgentB, 1, 5, startUnixMs: TestEvents.BaseUnixMs + 5000), Bearer(TokenB));
        return await StoreSnapshot.TakeAsync(h.Store);
    }

    [Fact]
    public async Task Send_GoodBatches_StoredAndCountedPerAgent()
    {
        await using var h = await StartAsync();
        var client = h.Client();

        var ack1 = await client.SendAsync(TestEvents.Batch(AgentA, 1, 30), Bearer(TokenA));
        var ack2 = await client.SendAsync(TestEvents.Batch(AgentA, 2, 12, firstSerial: 31, startUnixMs: TestEvents.BaseUnixMs + 1000), Bearer(TokenA));
        var ack3 = await client.SendAsync(TestEvents.Batch(AgentB, 1, 7), Bearer(TokenB));
        var empty = await client.SendAsync(TestEvents.Batch(AgentB, 2, 0), Bearer(TokenB));

        Assert.Equal((1ul, false, 30u), (ack1.Sequence, ack1.Duplicate, ack1.EventsStored));
        Assert.Equal((2ul, false, 12u), (ack2.Sequence, ack2.Duplicate, ack2.EventsStored));
        Assert.Equal((1ul, false, 7u), (ack3.Sequence, ack3.Duplicate, ack3.EventsStored));
        Assert.Equal((2ul, false, 0u), (empty.Sequence, empty.Duplicate, empty.EventsStored));
        var stats = await h.Store.GetAgentStatsAsync(CancellationToken.None);
        Assert.Equal([AgentA, AgentB], stats.Select(s => s.AgentId));
        Assert.Equal((2L, 42L, 0L, 2ul), (stats[0].Batches, stats[0].Events, stats[0].Duplicates, stats[0].MaxSequence));
        Assert.Equal((2L, 7L, 0L), (stats[1].Batches, stats[1].Events, stats[1].Duplicates));
        // Loss counters are summed per agent: kernel_lost is the sequence number in TestEvents.
        Assert.Equal((3L, 4L, 6L, 10L), (stats[0].Loss.KernelLost, stats[0].Loss.SocketOverruns, stats[0].Loss.SerialGaps, stats[0].Loss.Filtered));
        Assert.Equal("agent-a.example", stats[0].Hostname);
        Assert.Equal(49, (await StoreSnapshot.EventsAsync(h.Store)).Count);
    }

    [Fact]
    public async Task Send_NoToken_UnauthenticatedAndNothingStored()
    {
        await using var h = await StartAsync();
        string before = await SeedAsync(h);

        var e = await Assert.ThrowsAsync<RpcException>(() => h.Client().SendAsync(TestEvents.Batch(AgentA, 2, 3), Bearer(null)).ResponseAsync);

        Assert.Equal(StatusCode.Unauthenticated, e.StatusCode);
        Assert.Contains("no agent token", e.Status.Detail);
        Assert.Equal(before, await StoreSnapshot.TakeAsync(h.Store));
        Assert.Equal(1, h.Server.Counters.RefusedUnauthenticated);
    }

    [Theory]
    [InlineData("not-a-token-of-anyone", "unknown agent token")]
    [InlineData(TokenA + "x", "unknown agent token")]
    public async Task Send_WrongToken_UnauthenticatedAndNothingStored(string token, string expected)
    {
        await using var h = await StartAsync();
        string before = await SeedAsync(h);

        var e = await Assert.ThrowsAsync<RpcException>(() => h.Client().SendAsync(TestEvents.Batch(AgentA, 2, 3), Bearer(token)).ResponseAsync);

        Assert.Equal(StatusCode.Unauthenticated, e.StatusCode);
        Assert.Contains(expected, e.Status.Detail);
        Assert.Equal(before, await StoreSnapshot.TakeAsync(h.Store));
    }

    [Fact]
    public async Task Send_MalformedAuthorizationHeader_Unauthenticated()
    {
        await using var h = await StartAsync();

        var e = await Assert.ThrowsAsync<RpcException>(() =>
            h.Client().SendAsync(TestEvents.Batch(AgentA, 1, 1), new Metadata { { "authorization", "Basic " + TokenA } }).ResponseAsync);

        Assert.Equal(StatusCode.Unauthenticated, e.StatusCode);
        Assert.Contains("expected 'Bearer <token>'", e.Status.Detail);
        Assert.Empty(await h.Store.GetAgentStatsAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Send_TokenOfAnotherAgent_PermissionDeniedAndNothingStored()
    {
        await using var h = await StartAsync();
        string before = await SeedAsync(h);

        var e = await Assert.ThrowsAsync<RpcException>(() => h.Client().SendAsync(TestEvents.Batch(AgentA, 2, 3), Bearer(TokenB)).ResponseAsync);

        Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
        Assert.Contains($"claims agent_id '{AgentA}' but the token belongs to agent '{AgentB}'", e.Status.Detail);
        Assert.Equal(before, await StoreSnapshot.TakeAsync(h.Store));
    }

    [Fact]
    public async Task Send_OversizedMessage_ResourceExhaustedAndStoredDataUntouched()
    {
        await using var h = await StartAsync(new IngestLimits { MaxMessageBytes = 64 * 1024 });
        string before = await SeedAsync(h);
        var big = TestEvents.Batch(AgentA, 2, 200);
        Assert.True(big.CalculateSize() > 64 * 1024);

        var e = await Assert.ThrowsAsync<RpcException>(() => h.Client().SendAsync(big, Bearer(TokenA)).ResponseAsync);

        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Contains("exceeds the maximum", e.Status.Detail, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(before, await StoreSnapshot.TakeAsync(h.Store));
        // The same agent goes on with a batch that fits.
        var ack = await h.Client().SendAsync(TestEvents.Batch(AgentA, 2, 10), Bearer(TokenA));
        Assert.Equal(10u, ack.EventsStored);
    }

    public static TheoryData<string, string> Malformations => new()
    {
        { "sequence0", "sequence is required and must be > 0" },
        { "noHostname", "hostname is required" },
        { "eventWithoutRecords", "event 1 (serial 2) has no records" },
        { "recordWithoutType", "event 0 (serial 1) record 2 has no type" },
        { "emptyRecord", "event 0 (serial 1) record 0 has no raw text" },
        { "tooManyEvents", "batch holds 11 events, limit 10" },
        { "tooManyRecords", "event 0 (serial 1) has 9 records, limit 8" },
        { "recordTooLong", "record 0 is 20000 bytes, limit 16384" },
        { "noTime", "event 0 (serial 1) has no time_unix_ms" },
        { "badEpoch", "epoch 'ABC' is not valid (empty, or 32 lowercase hex digits)" },
        { "longBootId", "boot_id is 65 characters, limit 64" },
        { "longRulesHash", "rules_hash is 129 characters, limit 128" },
        { "nulHostname", "hostname contains a NUL character" },
        { "badInterval", "is not a valid interval" },
    };

    [Theory]
    [MemberData(nameof(Malformations))]
    public async Task Send_MalformedBatch_InvalidArgumentWithReasonAndGoodBatchesAroundItStored(string malformation, string reason)
    {
        await using var h = await StartAsync(new IngestLimits { MaxEventsPerBatch = 10, MaxRecordsPerEvent = 8 });
        var client = h.Client();
        await client.SendAsync(TestEvents.Batch(AgentA, 1, 4), Bearer(TokenA));
        string before = await StoreSnapshot.TakeAsync(h.Store);
        var bad = TestEvents.Batch(AgentA, 2, 3, firstSerial: 1);
        switch (malformation)
        {
            case "sequence0": bad.Sequence = 0; break;
            case "noHostname": bad.Hostname = ""; break;
            case "eventWithoutRecords": bad.Events[1].Records.Clear(); break;
            case "recordWithoutType": bad.Events[0].Records[2].Type = 0; break;
            case "emptyRecord": bad.Events[0].Records[0].Raw = Google.Protobuf.ByteString.Empty; break;
            case "tooManyEvents": bad = TestEvents.Batch(AgentA, 2, 11); break;
            case "tooManyRecords": bad.Events[0].Records.AddRange(bad.Events[0].Records.Take(3).Select(r => r.Clone())); break;
            case "recordTooLong": bad.Events[0].Records[0].Raw = Google.Protobuf.ByteString.CopyFrom(new byte[20000]); break;
            case "noTime": bad.Events[0].TimeUnixMs = 0; break;
            case "badEpoch": bad.Epoch = "ABC"; break;
            case "longBootId": bad.BootId = new string('b', 65); break;
            case "longRulesHash": bad.RulesHash = new string('h', 129); break;
            case "nulHostname": bad.Hostname = "host\0name"; break;
            case "badInterval": bad.IntervalEndUnixMs = bad.IntervalStartUnixMs - 1; break;
        }

        var e = await Assert.ThrowsAsync<RpcException>(() => client.SendAsync(bad, Bearer(TokenA)).ResponseAsync);
        var after = await client.SendAsync(TestEvents.Batch(AgentA, 3, 5, firstSerial: 100), Bearer(TokenA));

        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains(reason, e.Status.Detail);
        Assert.Contains("nothing of it was stored", e.Status.Detail);
        Assert.Equal(5u, after.EventsStored);
        var stats = (await h.Store.GetAgentStatsAsync(CancellationToken.None)).Single();
        Assert.Equal((2L, 9L), (stats.Batches, stats.Events));
        var serials = (await StoreSnapshot.EventsAsync(h.Store)).Select(x => x.Event.Serial).ToList();
        Assert.Equal([1ul, 2, 3, 4, 100, 101, 102, 103, 104], serials.Order().ToArray());
        // The events stored before the refusal are exported exactly as before.
        var beforeLines = before.Split('\n').Where(l => l.StartsWith("{\"serial\"", StringComparison.Ordinal)).ToList();
        var afterLines = (await StoreSnapshot.TakeAsync(h.Store)).Split('\n').ToHashSet();
        Assert.Equal(4, beforeLines.Count);
        Assert.All(beforeLines, l => Assert.Contains(l, afterLines));
    }

    [Fact]
    public async Task Send_MissingAgentId_InvalidArgument()
    {
        await using var h = await StartAsync();
        var bad = TestEvents.Batch(AgentA, 1, 1);
        bad.AgentId = "";

        var e = await Assert.ThrowsAsync<RpcException>(() => h.Client().SendAsync(bad, Bearer(TokenA)).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("agent_id is required", e.Status.Detail);
        Assert.Empty(await h.Store.GetAgentStatsAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Send_ResentBatch_AckedAsDuplicateAndStoredOnce()
    {
        await using var h = await StartAsync();
        var client = h.Client();
        var batch = TestEvents.Batch(AgentA, 1, 25);

        var first = await client.SendAsync(batch, Bearer(TokenA));
        var afterFirst = await StoreSnapshot.ExportLinesAsync(h.Store);
        var again = await client.SendAsync(batch, Bearer(TokenA));
        var third = await h.Client().SendAsync(batch, Bearer(TokenA));

        Assert.False(first.Duplicate);
        Assert.Equal(25u, first.EventsStored);
        Assert.True(again.Duplicate);
        Assert.Equal(0u, again.EventsStored);
        Assert.True(third.Duplicate);
        var stats = (await h.Store.GetAgentStatsAsync(CancellationToken.None)).Single();
        Assert.Equal((1L, 25L, 2L), (stats.Batches, stats.Events, stats.Duplicates));
        Assert.Equal(25, (await StoreSnapshot.EventsAsync(h.Store)).Count);
        Assert.Equal(afterFirst, await StoreSnapshot.ExportLinesAsync(h.Store));
    }

    [Fact]
    public async Task Send_ConcurrentResends_StoredExactlyOnce()
    {
        await using var h = await StartAsync();
        const int copies = 12;
        var clients = Enumerable.Range(0, 4).Select(_ => h.Client()).ToArray();
        var batches = Enumerable.Range(1, 5).Select(s => TestEvents.Batch(AgentA, (ulong)s, 40, firstSerial: s * 1000)).ToArray();

        var acks = await Task.WhenAll(
            from b in batches
            from i in Enumerable.Range(0, copies)
            select clients[i % clients.Length].SendAsync(b, Bearer(TokenA)).ResponseAsync);

        foreach (var group in acks.GroupBy(a => a.Sequence))
        {
            Assert.Equal(1, group.Count(a => !a.Duplicate));
            Assert.Equal(copies - 1, group.Count(a => a.Duplicate));
        }
        var stats = (await h.Store.GetAgentStatsAsync(CancellationToken.None)).Single();
        Assert.Equal((5L, 200L, 5L * (copies - 1)), (stats.Batches, stats.Events, stats.Duplicates));
        var events = await StoreSnapshot.EventsAsync(h.Store);
        Assert.Equal(200, events.Count);
        Assert.Equal(200, events.Select(e => e.Event.Serial).Distinct().Count());
    }

    [Fact]
    public async Task SendStream_Batches_AckedInOrderAndStoredOnce()
    {
        await using var h = await StartAsync();
        using var call = h.Client().SendStream(Bearer(TokenA));
        var sent = Enumerable.Range(1, 40).Select(s => TestEvents.Batch(AgentA, (ulong)s, 15, firstSerial: s * 100)).ToList();
        sent.Add(sent[3]); // a resend inside the stream

        var reading = Task.Run(async () =>
        {
            var acks = new List<Ack>();
            await foreach (var ack in call.ResponseStream.ReadAllAsync())
            {
                acks.Add(ack);
            }
            return acks;
        });
        foreach (var b in sent)
        {
            await call.RequestStream.WriteAsync(b);
        }
        await call.RequestStream.CompleteAsync();
        var acks = await reading;

        Assert.Equal(sent.Select(b => b.Sequence), acks.Select(a => a.Sequence));
        Assert.Equal(40, acks.Count(a => !a.Duplicate && a.EventsStored == 15));
        Assert.True(acks[^1].Duplicate);
        var stats = (await h.Store.GetAgentStatsAsync(CancellationToken.None)).Single();
        Assert.Equal((40L, 600L, 1L), (stats.Batches, stats.Events, stats.Duplicates));
    }

    [Fact]
    public async Task SendStream_BadBatchMidStream_EarlierBatchesStoredAndStreamEndsWithReason()
    {
        await using var h = await StartAsync();
        using var call = h.Client().SendStream(Bearer(TokenA));
        var bad = TestEvents.Batch(AgentA, 3, 2);
        bad.Events[0].Records.Clear();

        await call.RequestStream.WriteAsync(TestEvents.Batch(AgentA, 1, 5));
        await call.RequestStream.WriteAsync(TestEvents.Batch(AgentA, 2, 5, firstSerial: 10));
        await call.RequestStream.WriteAsync(bad);
        var acks = new List<Ack>();
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var ack in call.ResponseStream.ReadAllAsync())
            {
                acks.Add(ack);
            }
        });

        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("batch 3 from agent 'agent-a' refused: event 0 (serial 1) has no records", e.Status.Detail);
        Assert.Equal([1ul, 2ul], acks.Select(a => a.Sequence));
        var stats = (await h.Store.GetAgentStatsAsync(CancellationToken.None)).Single();
        Assert.Equal((2L, 10L), (stats.Batches, stats.Events));
    }

    [Fact]
    public async Task SendStream_NoToken_Unauthenticated()
    {
        await using var h = await StartAsync();
        using var call = h.Client().SendStream(Bearer(null));

        var e = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await call.RequestStream.WriteAsync(TestEvents.Batch(AgentA, 1, 5));
            await call.ResponseStream.MoveNext();
        });

        Assert.Equal(StatusCode.Unauthenticated, e.StatusCode);
        Assert.Empty(await h.Store.GetAgentStatsAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Heartbeat_FromEnrolledAgent_StoredAndShownInStats()
    {
        await using var h = await StartAsync();
        var client = h.Client();
        var hb = new AgentHeartbeat
        {
            AgentId = AgentB, Hostname = "b.example", BootId = "boot-b", Version = "0.1.0",
            TimeUnixMs = TestEvents.BaseUnixMs + 60_000, StartedUnixMs = TestEvents.BaseUnixMs, Mode = "unicast",
            Kernel = new KernelSettings { Enabled = 1, Failure = 1, BacklogLimit = 65752, Lost = 12 },
            RulesHash = "sha256:abcd", RulesCount = 17, LossTotals = new LossCounters { KernelLost = 12 },
            SpoolDepthBytes = 4096, SpoolDepthBatches = 2,
        };

        var reply = await client.HeartbeatAsync(hb, Bearer(TokenB));
        var wrong = await Assert.ThrowsAsync<RpcException>(() => client.HeartbeatAsync(hb, Bearer(TokenA)).ResponseAsync);

        Assert.True(reply.ServerTimeUnixMs > TestEvents.BaseUnixMs);
        Assert.Equal(StatusCode.PermissionDenied, wrong.StatusCode);
        var stats = (await h.Store.GetAgentStatsAsync(CancellationToken.None)).Single();
        Assert.Equal((AgentB, "b.example", "boot-b", "sha256:abcd"), (stats.AgentId, stats.Hostname, stats.BootId, stats.RulesHash));
        Assert.Equal(TestEvents.BaseUnixMs + 60_000, stats.LastHeartbeatUnixMs);
        Assert.Equal(0, stats.Batches);
        Assert.Equal(1, h.Server.Counters.Heartbeats);
    }

    /// <summary>
    /// The raw form (records and header only, as the agent ships by default) is interpreted by the
    /// collector before it is stored: what is stored is the full form, with the fields the records say,
    /// and a resend is a duplicate, not a conflict.
    /// </summary>
    [Fact]
    public async Task Send_RawFormBatch_StoredInterpretedFromTheRecords_ResendIsADuplicate()
    {
        await using var h = await StartAsync();
        var client = h.Client();
        EventBatch full = TestEvents.Batch(AgentA, 1, 21);
        EventBatch raw = full.Clone();
        raw.Events.Clear();
        foreach (Event e in full.Events)
        {
            var r = new Event { Serial = e.Serial, Timestamp = e.Timestamp, TimeUnixMs = e.TimeUnixMs, Completion = "eoe", RawOnly = true };
            r.Records.Add(e.Records.Select(x => new Sluice.Protocol.V1.Record { Type = x.Type, Raw = x.Raw }));
            raw.Events.Add(r);
        }

        var ack = await client.SendAsync(raw, Bearer(TokenA));
        var again = await client.SendAsync(raw, Bearer(TokenA));

        Assert.Equal((1ul, false, 21u), (ack.Sequence, ack.Duplicate, ack.EventsStored));
        Assert.True(again.Duplicate);
        var stored = (await StoreSnapshot.EventsAsync(h.Store)).Select(s => s.Event).ToList();
        Assert.Equal(21, stored.Count);
        for (int i = 0; i < stored.Count; i++)
        {
            Event got = stored[i], sent = full.Events[i];
            Assert.False(got.RawOnly);
            Assert.Equal(Sluice.Protocol.Mapping.AuditEventMapper.Expand(raw.Events[i]), got);
            // What the records say, which TestEvents also put in its full form's fields.
            Assert.Equal((sent.Syscall, sent.Success, sent.Exit, sent.Pid, sent.Auid, sent.FirstType),
                (got.Syscall, got.Success, got.Exit, got.Pid, got.Auid, got.FirstType));
            Assert.Equal((sent.Exe, sent.Key, sent.Comm), (got.Exe, got.Key, got.Comm));
            Assert.Equal(sent.Records.Select(r => r.Raw), got.Records.Select(r => r.Raw));
            Assert.Equal(["SYSCALL", "EXECVE", "CWD", "PATH", "PROCTITLE", "EOE"], got.Records.Select(r => r.TypeName));
        }
        // The resend is interpreted too: its digest, compared with the stored one, is of the full form.
        Assert.Equal((42L, 0L), (h.Server.Counters.EventsInterpreted, h.Server.Counters.InterpretationFailures));
    }
}

public sealed class SqliteIngestServiceTests() : IngestServiceTests(new SqliteStoreFactory());

[Collection(PostgresCollection.Name)]
public sealed class PostgresIngestServiceTests(PostgresFixture pg) : IngestServiceTests(new PostgresStoreFactory(pg.Cluster));
