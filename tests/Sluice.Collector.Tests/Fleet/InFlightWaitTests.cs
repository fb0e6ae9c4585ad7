using Grpc.Core;
using Grpc.Net.Client;
using Sluice.Collector.Hosting;
using Sluice.Collector.Tests.Adversarial;
using Sluice.Collector.Tests.Support;
using Sluice.Testing;
using static Sluice.Collector.Tests.Support.CollectorHarness;
using IngestClient = Sluice.Protocol.V1.Ingest.IngestClient;

namespace Sluice.Collector.Tests.Fleet;

/// <summary>
/// The front door's in-flight limit under a fleet: a call over <c>--max-in-flight</c> waits for a slot (bounded in time
/// and in waiters) instead of being refused at once. The fleet simulator showed the refusals: 100 agents, 158 calls refused
/// with RESOURCE_EXHAUSTED in 15 s, each retried a second later. The store is gated, so the slots stay taken for as long
/// as each test needs; nothing here is timed.
/// </summary>
public abstract class InFlightWaitTests : PerStoreTests
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-inflight-wait-").FullName;

    private protected InFlightWaitTests(IStoreFactory stores) : base(stores)
    {
    }

    public override void Dispose()
    {
        Directory.Delete(_dir, recursive: true);
        base.Dispose();
    }

    /// <summary>Waits (polling) until <paramref name="condition"/> holds; fails naming <paramref name="what"/> after a generous timeout.</summary>
    private static async Task UntilAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"never: {what}");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task Send_OverTheInFlightLimit_WaitsForASlotAndIsStoredOnce()
    {
        await using var h = await FrontDoor.StartAsync(Stores, _dir, o => o with { MaxInFlight = 2, InFlightWait = TimeSpan.FromMinutes(5) }, gated: true);
        using var channel = GrpcChannel.ForAddress(h.Server.Address);
        var client = new IngestClient(channel);
        var calls = Enumerable.Range(1, 6)
            .Select(i => client.SendAsync(TestEvents.Batch(AgentA, (ulong)i, 3, firstSerial: i * 10), Bearer(TokenA)).ResponseAsync).ToList();

        await h.Gate!.ArrivedAsync(2);
        await UntilAsync(() => h.Server.Counters.WaitedForSlot == 4, TimeSpan.FromMinutes(1), "4 calls waiting for a slot");
        // Two in the store, four waiting at the front door: none answered, none refused.
        Assert.Equal(2, h.Gate.Arrived);
        Assert.DoesNotContain(calls, c => c.IsCompleted);
        h.Gate.Open();

        var acks = await Task.WhenAll(calls);
        Assert.All(acks, a => Assert.Equal((false, 3u), (a.Duplicate, a.EventsStored)));
        Assert.Equal((6L, 0L, 4L), (h.Server.Counters.BatchesStored, h.Server.Counters.RefusedOverLimit, h.Server.Counters.WaitedForSlot));
        var stats = Assert.Single(await h.Store.GetAgentStatsAsync(CancellationToken.None));
        Assert.Equal((6L, 18L), (stats.Batches, stats.Events));
    }

    [Fact]
    public async Task Send_OverTheLimitWithTheWaitersFull_RefusedAtOnceWithPushback()
    {
        await using var h = await FrontDoor.StartAsync(Stores, _dir, o => o with { MaxInFlight = 1, MaxWaiting = 1, InFlightWait = TimeSpan.FromMinutes(5) }, gated: true);
        using var channel = GrpcChannel.ForAddress(h.Server.Address);
        var client = new IngestClient(channel);
        var first = client.SendAsync(TestEvents.Batch(AgentA, 1, 2), Bearer(TokenA)).ResponseAsync;
        await h.Gate!.ArrivedAsync(1);
        var waiting = client.SendAsync(TestEvents.Batch(AgentA, 2, 2, firstSerial: 10), Bearer(TokenA)).ResponseAsync;
        await UntilAsync(() => h.Server.Counters.WaitedForSlot == 1, TimeSpan.FromMinutes(1), "one call waiting for a slot");

        // The slot is taken and the one place to wait too: refused while the gate is still closed.
        var refused = await Assert.ThrowsAsync<RpcException>(() => client.SendAsync(TestEvents.Batch(AgentA, 3, 2, firstSerial: 20), Bearer(TokenA)).ResponseAsync);
        Assert.Equal((StatusCode.ResourceExhausted, "1000"), (refused.StatusCode, refused.Trailers.GetValue("grpc-retry-pushback-ms")));
        Assert.Contains("its limit of 1 calls at once", refused.Status.Detail);
        Assert.False(first.IsCompleted || waiting.IsCompleted);
        h.Gate.Open();
        Assert.Equal([2u, 2u], (await Task.WhenAll(first, waiting)).Select(a => a.EventsStored));
        Assert.Equal((2L, 1L), (h.Server.Counters.BatchesStored, h.Server.Counters.RefusedOverLimit));
    }

    [Fact]
    public async Task Send_WithADeadline_WaitsTwoThirdsOfItThenIsRefusedWithTimeLeftToRetry()
    {
        // The wait allowed is long; the caller's deadline (3 s) is what bounds it: refused after about 2 s, before the
        // deadline, as RESOURCE_EXHAUSTED with the pushback (not DEADLINE_EXCEEDED after the store had it).
        await using var h = await FrontDoor.StartAsync(Stores, _dir, o => o with { MaxInFlight = 1, InFlightWait = TimeSpan.FromMinutes(5) }, gated: true);
        using var channel = GrpcChannel.ForAddress(h.Server.Address);
        var client = new IngestClient(channel);
        var first = client.SendAsync(TestEvents.Batch(AgentA, 1, 2), Bearer(TokenA)).ResponseAsync;
        await h.Gate!.ArrivedAsync(1);

        var started = System.Diagnostics.Stopwatch.StartNew();
        var refused = await Assert.ThrowsAsync<RpcException>(() => client.SendAsync(TestEvents.Batch(AgentA, 2, 2, firstSerial: 10), Bearer(TokenA),
            deadline: DateTime.UtcNow.AddSeconds(3)).ResponseAsync);
        var waited = started.Elapsed;
        Assert.Equal((StatusCode.ResourceExhausted, "1000"), (refused.StatusCode, refused.Trailers.GetValue("grpc-retry-pushback-ms")));
        Assert.Contains("two thirds of the call's deadline", refused.Status.Detail);
        // Lower bound only (the refusal cannot come before the share of the deadline); the upper bound is the deadline itself,
        // which the status above already shows was not reached.
        Assert.True(waited >= TimeSpan.FromSeconds(1.5), $"refused after {waited}");
        Assert.Equal((1L, 1L), (h.Server.Counters.WaitedForSlot, h.Server.Counters.RefusedOverLimit));
        h.Gate.Open();
        Assert.Equal(2u, (await first).EventsStored);
        Assert.Equal(1L, h.Server.Counters.BatchesStored);
    }

    [Fact]
    public async Task Send_WhileCallsWaitPastTheTarget_AcksPaceTheAgents_AndThePaceGoesWithTheQueue()
    {
        // One slot, held by the gate, and 19 calls waiting behind it: a call arriving now would wait without end, against the
        // default target of 1 s. /api/ingest reads the pacer (and adjusts it), so the pace is seen growing before any ack.
        await using var h = await FrontDoor.StartAsync(Stores, _dir, o => o with { MaxInFlight = 1, InFlightWait = TimeSpan.FromMinutes(5) }, gated: true);
        using var channel = GrpcChannel.ForAddress(h.Server.Address);
        var client = new IngestClient(channel);
        using var http = new HttpClient { DefaultRequestVersion = System.Net.HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        async Task<(long PaceMs, long PacedAcks)> PacingAsync()
        {
            using var doc = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync(new Uri(h.Server.Address, "/api/ingest")));
            return (doc.RootElement.GetProperty("pace_ms").GetInt64(), doc.RootElement.GetProperty("paced_acks").GetInt64());
        }
        var calls = Enumerable.Range(1, 20)
            .Select(i => client.SendAsync(TestEvents.Batch(AgentA, (ulong)i, 2, firstSerial: i * 10), Bearer(TokenA)).ResponseAsync).ToList();
        await h.Gate!.ArrivedAsync(1);
        await UntilAsync(() => h.Server.Counters.WaitedForSlot == 19, TimeSpan.FromMinutes(1), "19 calls waiting for a slot");
        Assert.Equal((0L, 0L), await PacingAsync());
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while ((await PacingAsync()).PaceMs == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "no pace while 19 calls waited");
            await Task.Delay(100);
        }

        h.Gate.Open();
        var acks = await Task.WhenAll(calls);
        Assert.All(acks, a => Assert.Equal(2u, a.EventsStored));
        var paced = acks.Where(a => a.NextSendAfterMs > 0).ToList();
        Assert.NotEmpty(paced);
        // The pace never goes past --max-pace-ms (60 s), spread by a quarter at most.
        Assert.All(paced, a => Assert.InRange(a.NextSendAfterMs, 1u, 75_000u));
        Assert.Equal((long)paced.Count, (await PacingAsync()).PacedAcks);

        // The queue gone and the slot idle: the pace falls back to none, and the next ack asks for no wait.
        deadline = DateTime.UtcNow.AddMinutes(1);
        while ((await PacingAsync()).PaceMs > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the pace stayed after the queue went");
            await Task.Delay(100);
        }
        var after = await client.SendAsync(TestEvents.Batch(AgentA, 21, 2, firstSerial: 500), Bearer(TokenA));
        Assert.Equal((21ul, 0u), (after.Sequence, after.NextSendAfterMs));
        Assert.Equal(21L, h.Server.Counters.BatchesStored);
    }

    [Fact]
    public async Task Send_PacingOff_AcksNeverPace()
    {
        await using var h = await FrontDoor.StartAsync(Stores, _dir, o => o with { MaxInFlight = 1, InFlightWait = TimeSpan.FromMinutes(5), PaceTargetWait = TimeSpan.Zero }, gated: true);
        using var channel = GrpcChannel.ForAddress(h.Server.Address);
        var client = new IngestClient(channel);
        var calls = Enumerable.Range(1, 10)
            .Select(i => client.SendAsync(TestEvents.Batch(AgentA, (ulong)i, 2, firstSerial: i * 10), Bearer(TokenA)).ResponseAsync).ToList();
        await h.Gate!.ArrivedAsync(1);
        await UntilAsync(() => h.Server.Counters.WaitedForSlot == 9, TimeSpan.FromMinutes(1), "9 calls waiting for a slot");
        // Long enough for several of the pacer's ticks while the calls wait.
        await Task.Delay(IngestPacer.Tick * 4);
        h.Gate.Open();
        Assert.All(await Task.WhenAll(calls), a => Assert.Equal(0u, a.NextSendAfterMs));
    }

    [Fact]
    public async Task Heartbeat_WhileEveryBatchSlotIsTakenAndBatchesWait_PassesAtOnce()
    {
        // Heartbeats have their own slots: a heartbeat does not queue behind the batches, so a fleet that is behind on its
        // batches still shows its agents alive. With the wait off, a heartbeat in the batches' queue would be refused here.
        await using var h = await FrontDoor.StartAsync(Stores, _dir, o => o with { MaxInFlight = 1, InFlightWait = TimeSpan.FromMinutes(5) }, gated: true);
        using var channel = GrpcChannel.ForAddress(h.Server.Address);
        var client = new IngestClient(channel);
        var first = client.SendAsync(TestEvents.Batch(AgentA, 1, 2), Bearer(TokenA)).ResponseAsync;
        await h.Gate!.ArrivedAsync(1);
        var waiting = client.SendAsync(TestEvents.Batch(AgentA, 2, 2, firstSerial: 10), Bearer(TokenA)).ResponseAsync;
        await UntilAsync(() => h.Server.Counters.WaitedForSlot == 1, TimeSpan.FromMinutes(1), "one batch waiting for a slot");

        var reply = await client.HeartbeatAsync(new Sluice.Protocol.V1.AgentHeartbeat
        {
            AgentId = AgentA, Hostname = "a.example", BootId = "boot-a", Version = "0.1.0",
            TimeUnixMs = TestEvents.BaseUnixMs + 60_000, StartedUnixMs = TestEvents.BaseUnixMs,
        }, Bearer(TokenA), deadline: DateTime.UtcNow.AddMinutes(1));
        Assert.True(reply.ServerTimeUnixMs > 0);
        Assert.Equal((1L, 1L, 0L), (h.Server.Counters.Heartbeats, h.Server.Counters.WaitedForSlot, h.Server.Counters.RefusedOverLimit));
        Assert.False(first.IsCompleted || waiting.IsCompleted);
        h.Gate.Open();
        Assert.Equal([2u, 2u], (await Task.WhenAll(first, waiting)).Select(a => a.EventsStored));
    }

    [Fact]
    public async Task Send_OverTheLimitWithNoWait_RefusedAtOnce()
    {
        await using var h = await FrontDoor.StartAsync(Stores, _dir, o => o with { MaxInFlight = 1, InFlightWait = TimeSpan.Zero }, gated: true);
        using var channel = GrpcChannel.ForAddress(h.Server.Address);
        var client = new IngestClient(channel);
        var first = client.SendAsync(TestEvents.Batch(AgentA, 1, 2), Bearer(TokenA)).ResponseAsync;
        await h.Gate!.ArrivedAsync(1);

        var refused = await Assert.ThrowsAsync<RpcException>(() => client.SendAsync(TestEvents.Batch(AgentA, 2, 2, firstSerial: 10), Bearer(TokenA)).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        Assert.Equal(0, h.Server.Counters.WaitedForSlot);
        h.Gate.Open();
        Assert.Equal(2u, (await first).EventsStored);
    }
}

public sealed class SqliteInFlightWaitTests() : InFlightWaitTests(new SqliteStoreFactory());

[Collection(PostgresCollection.Name)]
public sealed class PostgresInFlightWaitTests(PostgresFixture pg) : InFlightWaitTests(new PostgresStoreFactory(pg.Cluster));

/// <summary>The <c>grpc-timeout</c> header read as gRPC over HTTP/2 defines it, and the wait it allows.</summary>
public sealed class DeadlineWaitTests
{
    [Theory]
    [InlineData("15000m", 15_000_000)]
    [InlineData("15S", 15_000_000)]
    [InlineData("1M", 60_000_000)]
    [InlineData("2H", 7_200_000_000)]
    [InlineData("99999999u", 99_999_999)]
    [InlineData("5000000n", 5_000)]
    [InlineData("0m", 0)]
    public void TryParseTimeout_EveryUnit(string header, long microseconds)
    {
        Assert.True(Sluice.Collector.Hosting.IngestFrontDoor.TryParseTimeout(header, out var timeout));
        Assert.Equal(microseconds, (long)timeout.TotalMicroseconds);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("m")]
    [InlineData("15")]
    [InlineData("15s")]
    [InlineData("-15S")]
    [InlineData("123456789S")]
    [InlineData(" 15S")]
    [InlineData("1.5S")]
    public void TryParseTimeout_AnythingElse_IsNoDeadline(string? header) =>
        Assert.False(Sluice.Collector.Hosting.IngestFrontDoor.TryParseTimeout(header, out _));

    [Fact]
    public void WaitFor_TheConfiguredWaitOrTwoThirdsOfTheDeadline_TheShorter()
    {
        var door = new Sluice.Collector.Hosting.IngestFrontDoor(new Sluice.Collector.Auth.AgentAuthenticator((Sluice.Collector.Auth.AgentTokens?)null),
            new Sluice.Collector.Ingest.IngestCounters(), null!, maxInFlight: 1, pushback: TimeSpan.FromSeconds(1), wait: TimeSpan.FromSeconds(10), maxWaiting: 1);
        Assert.Equal(TimeSpan.FromSeconds(10), door.WaitFor(null));
        Assert.Equal(TimeSpan.FromSeconds(10), door.WaitFor("15S"));
        Assert.Equal(TimeSpan.FromSeconds(2), door.WaitFor("3000m"));
        Assert.Equal(TimeSpan.FromSeconds(10), door.WaitFor("garbage"));
    }
}

/// <summary>Kestrel's socket listen backlog: a fleet connects at once when its collector starts or comes back.</summary>
public sealed class ListenBacklogTests
{
    [Fact]
    public async Task Server_ListensWithTheFleetBacklog_NotKestrelsDefault512()
    {
        string dir = Directory.CreateTempSubdirectory("sluice-backlog-").FullName;
        try
        {
            await using var store = new Sluice.Collector.Storage.Sqlite.SqliteEventStore(Path.Combine(dir, "events.db"));
            await store.InitializeAsync(CancellationToken.None);
            await using var server = await Sluice.Collector.Hosting.CollectorServer.StartAsync(new Sluice.Collector.Hosting.CollectorOptions
            {
                Listen = "127.0.0.1:0",
                Store = new Sluice.Collector.Storage.StoreLocation(Sluice.Collector.Storage.StoreKind.Sqlite, "unused: the store is given"),
                AllowAnonymous = true,
            }, store);
            var sockets = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<
                Microsoft.Extensions.Options.IOptions<Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets.SocketTransportOptions>>(server.Services);
            Assert.Equal(8192, sockets.Value.Backlog);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }
}
