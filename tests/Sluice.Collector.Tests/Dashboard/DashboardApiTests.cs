using System.Net;
using System.Text.Json;
using Grpc.Net.Client;
using Sluice.Collector.Hosting;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;
using static Sluice.Collector.Tests.Dashboard.DashboardData;

namespace Sluice.Collector.Tests.Dashboard;

/// <summary>The dashboard's JSON API against a real collector on 127.0.0.1 over each store, on data of known content.</summary>
public abstract class DashboardApiTests : PerStoreTests
{
    private protected DashboardApiTests(IStoreFactory stores) : base(stores)
    {
    }

    private static readonly string Range = $"from={From / 1000}&to={To / 1000}";

    /// <summary>A browser's client: HTTP/1.1 on the cleartext port.</summary>
    private static HttpClient Http1() => new() { DefaultRequestVersion = HttpVersion.Version11, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };

    private async Task<CollectorServer> SearchCollectorAsync()
    {
        var (store, _) = await Stores.CreateAsync();
        var server = await StartAsync(store);
        using var channel = GrpcChannel.ForAddress(server.Address);
        var client = new Sluice.Protocol.V1.Ingest.IngestClient(channel);
        foreach (var batch in SearchBatches())
        {
            await client.SendAsync(batch);
        }
        return server;
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> GetAsync(CollectorServer server, string pathAndQuery)
    {
        using var http = Http1();
        using var response = await http.GetAsync(new Uri(server.Address, pathAndQuery));
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return (response.StatusCode, doc.RootElement.Clone());
    }

    private static long[] Serials(JsonElement page) => [.. page.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("serial").GetInt64())];

    [Theory]
    [InlineData("key=priv", new long[] { 6, 2, 1 })]
    [InlineData("key=priv&agent=agent-a", new long[] { 2, 1 })]
    [InlineData("user=1000", new long[] { 6, 3, 1 })]
    [InlineData("user=unset", new long[] { 4 })]
    [InlineData("user=1002", new long[] { 5 })]
    [InlineData("exe=sudo", new long[] { 6, 2, 1 })]
    [InlineData("exe=/usr/bin/sudo", new long[] { 2, 1 })]
    [InlineData("argv=shadow", new long[] { 1 })]
    [InlineData("argv=SHADOW", new long[] { 5 })]
    [InlineData("argv=sudo%20-i", new long[] { 2 })]
    [InlineData("key=priv&user=1000&exe=sudo", new long[] { 6, 1 })]
    [InlineData("key=nothing", new long[0])]
    [InlineData("", new long[] { 6, 5, 4, 3, 2, 1 })]
    public async Task Events_Filter_FindsExactlyTheMatchingEventsNewestFirst(string filter, long[] expected)
    {
        await using var server = await SearchCollectorAsync();
        await using var _ = server.Store;

        var (status, page) = await GetAsync(server, $"/api/events?{Range}&{filter}");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(expected, Serials(page));
        Assert.Equal(JsonValueKind.Null, page.GetProperty("next").ValueKind);
    }

    [Fact]
    public async Task Events_FoundEvent_CarriesItsColumnsAndArgv()
    {
        await using var server = await SearchCollectorAsync();
        await using var _ = server.Store;

        var (_, page) = await GetAsync(server, $"/api/events?{Range}&argv=systemctl");

        var e = Assert.Single(page.GetProperty("events").EnumerateArray());
        Assert.Equal("agent-b", e.GetProperty("agent_id").GetString());
        Assert.Equal("agent-b.example", e.GetProperty("hostname").GetString());
        Assert.Equal(From + 5000, e.GetProperty("time_unix_ms").GetInt64());
        Assert.Equal("2025-11-25T00:00:05.000Z", e.GetProperty("time").GetString());
        Assert.Equal("sudo systemctl restart sshd", e.GetProperty("argv").GetString());
        Assert.Equal("/bin/sudo", e.GetProperty("exe").GetString());
        Assert.Equal("priv", e.GetProperty("key").GetString());
        Assert.Equal(1000, e.GetProperty("auid").GetInt64());
        Assert.Equal(0, e.GetProperty("uid").GetInt64());
        Assert.Equal("execve", e.GetProperty("syscall").GetString());
    }

    [Fact]
    public async Task Events_Pages_WalkEveryEventOnceNewestFirst()
    {
        await using var server = await SearchCollectorAsync();
        await using var _ = server.Store;
        var seen = new List<long[]>();
        string? next = null;

        do
        {
            var (status, page) = await GetAsync(server, $"/api/events?{Range}&limit=2" + (next is null ? "" : "&before=" + next));
            Assert.Equal(HttpStatusCode.OK, status);
            seen.Add(Serials(page));
            next = page.GetProperty("next").GetString();
        }
        while (next is not null);

        Assert.Equal([[6, 5], [4, 3], [2, 1]], seen);
    }

    [Fact]
    public async Task Events_Range_IsFromInclusiveToExclusive()
    {
        await using var server = await SearchCollectorAsync();
        await using var _ = server.Store;

        var (_, page) = await GetAsync(server, $"/api/events?from=2025-11-25T00:00:02Z&to=2025-11-25T00:00:05Z");

        Assert.Equal([4, 3, 2], Serials(page));
    }

    [Fact]
    public async Task Events_NamesResolvedByTheAgent_ShownBesideTheIds()
    {
        await using var server = await SearchCollectorAsync();
        await using var _ = server.Store;

        var (_, page) = await GetAsync(server, $"/api/events?{Range}&user=1000&key=priv&agent=agent-a");

        var e = Assert.Single(page.GetProperty("events").EnumerateArray());
        Assert.Equal(1000, e.GetProperty("auid").GetInt64());
        Assert.Equal("alice", e.GetProperty("auid_name").GetString());
        Assert.Equal(0, e.GetProperty("uid").GetInt64());
        Assert.Equal("root", e.GetProperty("uid_name").GetString());
        Assert.Equal(JsonValueKind.Null, e.GetProperty("euid_name").ValueKind);
        // Without names from the agent, the ids stand alone.
        var (_, other) = await GetAsync(server, $"/api/events?{Range}&user=1001");
        Assert.Equal(JsonValueKind.Null, Assert.Single(other.GetProperty("events").EnumerateArray()).GetProperty("auid_name").ValueKind);
    }

    private async Task<CollectorServer> FleetCollectorAsync()
    {
        var (store, _) = await Stores.CreateAsync();
        var server = await StartAsync(store);
        await SendFleetAsync(server);
        return server;
    }

    private static long Loss(JsonElement loss, string kind) => loss.GetProperty(kind).GetInt64();

    [Fact]
    public async Task Fleet_KnownFleet_EveryHostWithItsEventsLossAndVerdict()
    {
        long sentFrom = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await using var server = await FleetCollectorAsync();
        await using var _ = server.Store;
        long sentTo = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        var (status, fleet) = await GetAsync(server, $"/api/fleet?{Range}");

        Assert.Equal(HttpStatusCode.OK, status);
        var hosts = fleet.GetProperty("hosts").EnumerateArray().ToDictionary(h => h.GetProperty("agent_id").GetString()!);
        Assert.Equal(Agents, hosts.Keys.Order());
        var a = hosts["agent-a"];
        Assert.Equal("agent-a.example", a.GetProperty("hostname").GetString());
        Assert.Equal(EventsPerHourA.Sum(), a.GetProperty("events").GetInt64());
        Assert.Equal(180, a.GetProperty("batches").GetInt64());
        Assert.Equal(KernelLostA, Loss(a.GetProperty("loss"), "kernel_lost"));
        Assert.Equal(SocketOverrunsA, Loss(a.GetProperty("loss"), "socket_overruns"));
        Assert.Equal(SerialGapsA, Loss(a.GetProperty("loss"), "serial_gaps"));
        Assert.Equal(0, Loss(a.GetProperty("loss"), "spool_dropped"));
        Assert.Equal(KernelLostA + SocketOverrunsA + SerialGapsA, Loss(a.GetProperty("loss"), "total"));
        Assert.False(a.GetProperty("complete").GetBoolean());
        Assert.StartsWith("gaps:", a.GetProperty("verdict").GetString());
        Assert.Equal(3 * HourMs, a.GetProperty("connected_ms").GetInt64());

        var b = hosts["agent-b"];
        Assert.Equal(EventsB, b.GetProperty("events").GetInt64());
        Assert.Equal(0, Loss(b.GetProperty("loss"), "total"));
        Assert.False(b.GetProperty("complete").GetBoolean());
        Assert.StartsWith("gaps:", b.GetProperty("verdict").GetString());
        Assert.Equal(HourMs, b.GetProperty("disconnected_ms").GetInt64());

        var c = hosts["agent-c"];
        Assert.Equal(EventsC, c.GetProperty("events").GetInt64());
        Assert.Equal(0, Loss(c.GetProperty("loss"), "total"));
        Assert.True(c.GetProperty("complete").GetBoolean());
        Assert.Equal("continuous, complete", c.GetProperty("verdict").GetString());
        // Last seen is when the collector received the agent's last batch, not the data's time.
        Assert.InRange(c.GetProperty("last_seen_unix_ms").GetInt64(), sentFrom, sentTo);

        var totals = fleet.GetProperty("totals");
        Assert.Equal(3, totals.GetProperty("hosts").GetInt32());
        Assert.Equal(1, totals.GetProperty("complete").GetInt32());
        Assert.Equal(EventsPerHourA.Sum() + EventsB + EventsC, totals.GetProperty("events").GetInt64());
        Assert.Equal(KernelLostA + SocketOverrunsA + SerialGapsA, Loss(totals.GetProperty("loss"), "total"));
    }

    [Fact]
    public async Task FleetAndHost_AgreeWithTheFullReport()
    {
        await using var server = await FleetCollectorAsync();
        await using var _ = server.Store;

        var (_, fleet) = await GetAsync(server, $"/api/fleet?{Range}");
        var (_, report) = await GetAsync(server, $"/api/report?{Range}");

        var full = report.GetProperty("coverage").EnumerateArray().ToList();
        var rows = fleet.GetProperty("hosts").EnumerateArray().ToList();
        Assert.Equal(full.Count, rows.Count);
        foreach (var (row, c) in rows.Zip(full))
        {
            Assert.Equal(c.GetProperty("agent_id").GetString(), row.GetProperty("agent_id").GetString());
            Assert.Equal(c.GetProperty("verdict").GetString(), row.GetProperty("verdict").GetString());
            Assert.Equal(c.GetProperty("events").GetInt64(), row.GetProperty("events").GetInt64());
            Assert.True(JsonElement.DeepEquals(c.GetProperty("loss"), row.GetProperty("loss")), $"{row.GetProperty("agent_id")}: loss differs");
            var (_, host) = await GetAsync(server, $"/api/hosts/{c.GetProperty("agent_id").GetString()}?{Range}");
            Assert.True(JsonElement.DeepEquals(c, host.GetProperty("host")), $"{row.GetProperty("agent_id")}: host coverage differs from the report's");
        }
    }

    [Fact]
    public async Task Host_WithLoss_ChartsPerHourAndIntervals()
    {
        await using var server = await FleetCollectorAsync();
        await using var _ = server.Store;

        var (status, view) = await GetAsync(server, $"/api/hosts/agent-a?{Range}");

        Assert.Equal(HttpStatusCode.OK, status);
        var perHour = view.GetProperty("events_per_hour").EnumerateArray().ToList();
        Assert.Equal([From, From + HourMs, From + 2 * HourMs], perHour.Select(p => p.GetProperty("hour_unix_ms").GetInt64()));
        Assert.Equal(EventsPerHourA, perHour.Select(p => p.GetProperty("events").GetInt64()));
        var loss = view.GetProperty("loss_over_time").EnumerateArray().Select(p => p.GetProperty("loss")).ToList();
        Assert.Equal([0, KernelLostA, SocketOverrunsA + SerialGapsA], loss.Select(l => Loss(l, "total")));
        Assert.Equal([0, KernelLostA, 0], loss.Select(l => Loss(l, "kernel_lost")));
        Assert.Equal([0, 0, SerialGapsA], loss.Select(l => Loss(l, "serial_gaps")));
        var interval = Assert.Single(view.GetProperty("host").GetProperty("intervals").EnumerateArray());
        Assert.True(interval.GetProperty("connected").GetBoolean());
        Assert.Equal(From, interval.GetProperty("start_unix_ms").GetInt64());
        Assert.Equal(To, interval.GetProperty("end_unix_ms").GetInt64());
        var recent = view.GetProperty("recent_events").EnumerateArray().ToList();
        Assert.Equal(20, recent.Count);
        Assert.All(recent, e => Assert.Equal("agent-a", e.GetProperty("agent_id").GetString()));
        // The newest: the last of the 3 events of minute 179, 40 s into it.
        Assert.Equal(From + 179 * MinuteMs + 40_000, recent[0].GetProperty("time_unix_ms").GetInt64());
    }

    [Fact]
    public async Task Host_StoppedForAnHour_DisconnectedIntervalAndEmptyHour()
    {
        await using var server = await FleetCollectorAsync();
        await using var _ = server.Store;

        var (_, view) = await GetAsync(server, $"/api/hosts/agent-b?{Range}");

        var intervals = view.GetProperty("host").GetProperty("intervals").EnumerateArray()
            .Select(i => (i.GetProperty("start_unix_ms").GetInt64(), i.GetProperty("end_unix_ms").GetInt64(), i.GetProperty("connected").GetBoolean()))
            .ToList();
        Assert.Equal([(From, From + HourMs, true), (From + HourMs, From + 2 * HourMs, false), (From + 2 * HourMs, To, true)], intervals);
        Assert.Equal([60L, 0L, 60L], view.GetProperty("events_per_hour").EnumerateArray().Select(p => p.GetProperty("events").GetInt64()));
    }

    [Fact]
    public async Task Host_RulesChanged_EachHashFromWhenItWasFirstReported()
    {
        await using var server = await FleetCollectorAsync();
        await using var _ = server.Store;

        var (_, view) = await GetAsync(server, $"/api/hosts/agent-c?{Range}");

        var host = view.GetProperty("host");
        // A batch reports its rules at its interval's end: minute 0's at From + 1 min, minute 120's at From + 121 min.
        var changes = host.GetProperty("rules_hashes").EnumerateArray()
            .Select(r => (r.GetProperty("at_unix_ms").GetInt64(), r.GetProperty("rules_hash").GetString()))
            .ToList();
        Assert.Equal([(From + MinuteMs, RulesHash1), (From + 121 * MinuteMs, RulesHash2)], changes);
        Assert.Equal(RulesHash2, host.GetProperty("rules_hash").GetString());
    }

    [Fact]
    public async Task Host_Unknown_404NamingIt()
    {
        await using var server = await FleetCollectorAsync();
        await using var _ = server.Store;

        var (status, body) = await GetAsync(server, $"/api/hosts/agent-z?{Range}");

        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Contains("agent-z", body.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Report_OneAgent_IsTheReportBuildersJson()
    {
        await using var server = await FleetCollectorAsync();
        await using var _ = server.Store;

        var (status, report) = await GetAsync(server, $"/api/report?{Range}&agent=agent-c");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("agent-c", report.GetProperty("agent").GetString());
        Assert.Equal(From, report.GetProperty("from_unix_ms").GetInt64());
        var coverage = Assert.Single(report.GetProperty("coverage").EnumerateArray());
        Assert.Equal("continuous, complete", coverage.GetProperty("verdict").GetString());
        Assert.Equal(EventsC, report.GetProperty("events_per_hour").EnumerateArray().Sum(h => h.GetProperty("events").GetInt64()));
        Assert.Equal(EventsC, report.GetProperty("privileged").GetProperty("total").GetInt64());
    }

    [Fact]
    public async Task Fleet_EveryLossKindAndDelivery_ForEachHostWithHowEachKindCounts()
    {
        await using var server = await FleetCollectorAsync();
        await using var store = server.Store;

        var (_, fleet) = await GetAsync(server, $"/api/fleet?{Range}");

        var kinds = fleet.GetProperty("loss_kinds").EnumerateArray().ToList();
        string[] names =
        [
            "kernel_lost", "socket_overruns", "serial_gaps", "spool_dropped", "spool_dropped_batches", "reassembly_evicted", "truncated", "parse_errors",
            "backlog_wait_time_actual", "filtered", "quarantined_batches", "quarantined_events", "quarantine_trimmed_batches", "quarantine_trimmed_events",
            "spool_corrupt_batches", "spool_corrupt_events",
        ];
        Assert.Equal(names, kinds.Select(k => k.GetProperty("name").GetString()));
        Assert.Equal(["kernel_lost", "socket_overruns", "serial_gaps", "spool_dropped", "reassembly_evicted", "quarantined_events", "spool_corrupt_events"],
            kinds.Where(k => k.GetProperty("in_total").GetBoolean()).Select(k => k.GetProperty("name").GetString()));
        Assert.Equal(["spool_dropped_batches", "quarantined_batches", "spool_corrupt_batches"],
            kinds.Where(k => k.GetProperty("in_batches_lost").GetBoolean()).Select(k => k.GetProperty("name").GetString()));
        foreach (var host in fleet.GetProperty("hosts").EnumerateArray())
        {
            var loss = host.GetProperty("loss");
            Assert.All(names.Concat(["total", "batches_lost", "any_loss"]), n => Assert.True(loss.TryGetProperty(n, out _), $"{host.GetProperty("agent_id")}: no loss.{n}"));
            Assert.Equal(0, loss.GetProperty("batches_lost").GetInt64());
            Assert.True(host.TryGetProperty("delivery", out var delivery));
            Assert.All(["delivery_gaps", "missing_sequences", "refused_batches", "refused_events", "conflicts", "refusals_unrecorded", "interleaved_epochs", "interleaved_boot_ids", "gaps", "refused_by_status"],
                n => Assert.True(delivery.TryGetProperty(n, out _), $"{host.GetProperty("agent_id")}: no delivery.{n}"));
        }
        var c = fleet.GetProperty("hosts").EnumerateArray().Single(h => h.GetProperty("agent_id").GetString() == "agent-c").GetProperty("delivery");
        Assert.Equal((0, 0, 0, false, false), (c.GetProperty("delivery_gaps").GetInt64(), c.GetProperty("refused_batches").GetInt64(),
            c.GetProperty("conflicts").GetInt64(), c.GetProperty("interleaved_epochs").GetBoolean(), c.GetProperty("interleaved_boot_ids").GetBoolean()));
        // A range in the past is not cut.
        Assert.Equal((To, false), (fleet.GetProperty("covered_to_unix_ms").GetInt64(), fleet.GetProperty("cut_at_now").GetBoolean()));
        var totals = fleet.GetProperty("totals");
        Assert.Equal((0, 0, 0), (totals.GetProperty("delivery_gaps").GetInt64(), totals.GetProperty("refused_batches").GetInt64(), totals.GetProperty("interleaved_hosts").GetInt32()));
    }

    private const string EpochG = "0123abcd4567ef890123abcd4567ef89";

    /// <summary>
    /// Heartbeats every minute over the last half hour until now (received now: delivery facts are by receive
    /// time), and <paramref name="batches"/>: a host that is up throughout.
    /// </summary>
    private async Task<(CollectorServer Server, long From)> LiveCollectorAsync(string agent, Func<long, IEnumerable<EventBatch>> batches, Func<long, string>? bootId = null)
    {
        var (store, _) = await Stores.CreateAsync();
        var server = await StartAsync(store);
        long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        long from = (now - 30 * MinuteMs) / 1000 * 1000;
        using var channel = GrpcChannel.ForAddress(server.Address);
        var client = new Sluice.Protocol.V1.Ingest.IngestClient(channel);
        foreach (var batch in batches(from))
        {
            Assert.False((await client.SendAsync(batch)).Duplicate);
        }
        for (long t = from - MinuteMs; t <= now; t += MinuteMs)
        {
            await client.HeartbeatAsync(new AgentHeartbeat
            {
                AgentId = agent, Hostname = agent + ".example", BootId = bootId?.Invoke(t) ?? "boot-" + agent, Version = "1.0", Mode = "unicast",
                TimeUnixMs = t, StartedUnixMs = from - 60 * MinuteMs, RulesHash = RulesHash1, Epoch = EpochG, LossTotals = new LossCounters(),
            });
        }
        return (server, from);
    }

    private static EventBatch LiveBatch(string agent, ulong sequence, long start, string epoch, string bootId)
    {
        var batch = TestEvents.Batch(agent, sequence, 1, firstSerial: (long)sequence, startUnixMs: start);
        batch.IntervalStartUnixMs = start;
        batch.IntervalEndUnixMs = start + 5 * MinuteMs;
        batch.CreatedUnixMs = start + 5 * MinuteMs;
        batch.Loss = new LossCounters();
        batch.Epoch = epoch;
        batch.EpochStartSequence = 1;
        batch.BootId = bootId;
        return batch;
    }

    [Fact]
    public async Task Fleet_SequencesNeverReceived_DeliveryGapsWithRangesAndNotComplete()
    {
        // Sequences 1, 2 and 5 of one epoch arrive; 3 and 4 never do, and the agent reports no spool drop.
        var (server, from) = await LiveCollectorAsync("agent-g",
            f => new ulong[] { 1, 2, 5 }.Select(seq => LiveBatch("agent-g", seq, f + (long)(seq - 1) * 5 * MinuteMs, EpochG, "boot-agent-g")));
        await using var _s = server;
        await using var _ = server.Store;

        var (status, fleet) = await GetAsync(server, $"/api/fleet?from={from / 1000}");

        Assert.Equal(HttpStatusCode.OK, status);
        var g = fleet.GetProperty("hosts").EnumerateArray().Single(h => h.GetProperty("agent_id").GetString() == "agent-g");
        var d = g.GetProperty("delivery");
        Assert.Equal((2, 2, 0), (d.GetProperty("delivery_gaps").GetInt64(), d.GetProperty("missing_sequences").GetInt64(), d.GetProperty("explained_by_agent").GetInt64()));
        var gap = Assert.Single(d.GetProperty("gaps").EnumerateArray());
        Assert.Equal((EpochG, 3UL, 4UL, 2UL), (gap.GetProperty("epoch").GetString(), gap.GetProperty("from").GetUInt64(), gap.GetProperty("to").GetUInt64(), gap.GetProperty("batches").GetUInt64()));
        Assert.False(g.GetProperty("complete").GetBoolean());
        Assert.Equal("gaps: 2 batches never received (delivery gaps: 2 sequences missing, 0 of them reported dropped by the agent; missing 0123abcd 3-4)", g.GetProperty("verdict").GetString());
        Assert.Equal(0, g.GetProperty("disconnected_ms").GetInt64());
        Assert.Equal((2, 0), (fleet.GetProperty("totals").GetProperty("delivery_gaps").GetInt64(), fleet.GetProperty("totals").GetProperty("complete").GetInt32()));
    }

    [Fact]
    public async Task Fleet_TwoMachinesAsOneAgent_InterleavingShownAndNotComplete()
    {
        // A cloned machine: two spools (epochs) on two boots send under one agent id, in turn.
        const string epoch2 = "fedcba9876543210fedcba9876543210";
        var (server, from) = await LiveCollectorAsync("agent-k",
            f => new ulong[] { 1, 2, 3 }.SelectMany(seq => new[]
            {
                LiveBatch("agent-k", seq, f + (long)(seq - 1) * 5 * MinuteMs, EpochG, "boot-1"),
                LiveBatch("agent-k", seq, f + (long)(seq - 1) * 5 * MinuteMs, epoch2, "boot-2"),
            }),
            bootId: t => t / MinuteMs % 2 == 0 ? "boot-1" : "boot-2");
        await using var _s = server;
        await using var _ = server.Store;

        var (_, fleet) = await GetAsync(server, $"/api/fleet?from={from / 1000}");

        var k = fleet.GetProperty("hosts").EnumerateArray().Single(h => h.GetProperty("agent_id").GetString() == "agent-k");
        var d = k.GetProperty("delivery");
        Assert.Equal((2, true, true), (d.GetProperty("epochs").GetInt32(), d.GetProperty("interleaved_epochs").GetBoolean(), d.GetProperty("interleaved_boot_ids").GetBoolean()));
        Assert.False(k.GetProperty("complete").GetBoolean());
        Assert.Equal("gaps: epochs interleave: two spools send as this agent (2 epochs); boot ids interleave: two machines send as this agent (a cloned agent id)",
            k.GetProperty("verdict").GetString());
        Assert.Equal(1, fleet.GetProperty("totals").GetProperty("interleaved_hosts").GetInt32());
    }

    [Fact]
    public async Task Fleet_RecordedRefusals_ByStatusWithConflictsAndNotComplete()
    {
        await using var server = await FleetCollectorAsync();
        await using var _ = server.Store;
        // agent-c, otherwise continuous and complete: two invalid batches after its last, and its last sequence
        // sent again with other content (a conflict).
        foreach (var (seq, status, events) in new (ulong, string, int)[] { (181, "InvalidArgument", 10), (182, "InvalidArgument", 10), (180, "AlreadyExists", 5) })
        {
            await server.Store.RecordRefusalAsync(new Sluice.Collector.Storage.BatchRefusal("agent-c", "agent-c.example", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "", seq, status,
                "refused for the test", events, "digest-" + seq, From + 30 * MinuteMs), CancellationToken.None);
        }

        var (_, fleet) = await GetAsync(server, $"/api/fleet?{Range}");

        var c = fleet.GetProperty("hosts").EnumerateArray().Single(h => h.GetProperty("agent_id").GetString() == "agent-c");
        var d = c.GetProperty("delivery");
        Assert.Equal([("AlreadyExists", 1L, 5L), ("InvalidArgument", 2L, 20L)],
            d.GetProperty("refused_by_status").EnumerateArray().Select(r => (r.GetProperty("status").GetString(), r.GetProperty("batches").GetInt64(), r.GetProperty("events").GetInt64())));
        Assert.Equal((3, 25, 1), (d.GetProperty("refused_batches").GetInt64(), d.GetProperty("refused_events").GetInt64(), d.GetProperty("conflicts").GetInt64()));
        Assert.False(c.GetProperty("complete").GetBoolean());
        Assert.Equal("gaps: 3 batches refused (25 events, 1 of them conflicts: key taken by other content; AlreadyExists 1 (5 events), InvalidArgument 2 (20 events))",
            c.GetProperty("verdict").GetString());
        Assert.Equal((0, 3, 1), (fleet.GetProperty("totals").GetProperty("complete").GetInt32(), fleet.GetProperty("totals").GetProperty("refused_batches").GetInt64(),
            fleet.GetProperty("totals").GetProperty("conflicts").GetInt64()));
    }

    [Theory]
    [InlineData("/api/report?agent=agent-z", "agent")]
    [InlineData("/api/fleet?agent=agent-a", "agent")]
    [InlineData("/api/hosts/agent-a?limit=3", "limit")]
    [InlineData("/api/fleet?from=1764028800&to=1764028800", "to")]
    public async Task ReportViews_BadParameter_400NamingIt(string pathAndQuery, string parameter)
    {
        await using var server = await FleetCollectorAsync();
        await using var _ = server.Store;

        var (status, body) = await GetAsync(server, pathAndQuery);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(parameter, body.GetProperty("parameter").GetString());
    }

    [Theory]
    [InlineData("limit=0", "limit")]
    [InlineData("limit=1001", "limit")]
    [InlineData("limit=ten", "limit")]
    [InlineData("user=alice", "user")]
    [InlineData("user=-5", "user")]
    [InlineData("from=yesterday", "from")]
    [InlineData("to=2025-13-45", "to")]
    [InlineData("from=1764032400&to=1764028800", "to")]
    [InlineData("agent=bad%20id", "agent")]
    [InlineData("before=xyz", "before")]
    [InlineData("colour=red", "colour")]
    [InlineData("key=a&key=b", "key")]
    public async Task Events_BadParameter_400NamingIt(string query, string parameter)
    {
        await using var server = await SearchCollectorAsync();
        await using var _ = server.Store;

        var (status, body) = await GetAsync(server, "/api/events?" + query);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(parameter, body.GetProperty("parameter").GetString());
        Assert.StartsWith(parameter + ": ", body.GetProperty("error").GetString());
        Assert.Equal(400, body.GetProperty("status").GetInt32());
    }
}

public sealed class SqliteDashboardApiTests() : DashboardApiTests(new SqliteStoreFactory());

[Collection(PostgresCollection.Name)]
public sealed class PostgresDashboardApiTests(PostgresFixture pg) : DashboardApiTests(new PostgresStoreFactory(pg.Cluster));
