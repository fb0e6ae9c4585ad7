using System.Text.Json;
using Sluice.Collector.Cli;
using Sluice.Collector.Tests.Support;
using static Sluice.Collector.Tests.Support.CollectorHarness;

namespace Sluice.Collector.Tests.Cli;

/// <summary><c>stats</c> run against a store filled through the real gRPC path.</summary>
public abstract class StatsCommandTests : PerStoreTests
{
    private protected StatsCommandTests(IStoreFactory stores) : base(stores)
    {
    }

    [Fact]
    public async Task Run_Json_PerAgentCountsDuplicatesLossAndLastSeen()
    {
        var (store, spec) = await Stores.CreateAsync();
        await using var h = await CollectorHarness.StartAsync(store);
        var client = h.Client();
        for (ulong s = 1; s <= 4; s++)
        {
            await client.SendAsync(TestEvents.Batch(AgentA, s, 10 * (int)s), Bearer(TokenA));
        }
        await client.SendAsync(TestEvents.Batch(AgentA, 2, 20), Bearer(TokenA));
        await client.SendAsync(TestEvents.Batch(AgentA, 3, 30), Bearer(TokenA));
        await client.SendAsync(TestEvents.Batch(AgentB, 7, 3), Bearer(TokenB));
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        int rc = await StatsCommand.RunAsync(spec, json: true, stdout, stderr, CancellationToken.None);

        Assert.Equal(0, rc);
        Assert.Equal("", stderr.ToString());
        using var doc = JsonDocument.Parse(stdout.ToString());
        var agents = doc.RootElement.GetProperty("agents").EnumerateArray().ToList();
        Assert.Equal([AgentA, AgentB], agents.Select(a => a.GetProperty("agent_id").GetString()));
        var a = agents[0];
        Assert.Equal(4, a.GetProperty("batches").GetInt64());
        Assert.Equal(100, a.GetProperty("events").GetInt64());
        Assert.Equal(2, a.GetProperty("duplicates").GetInt64());
        Assert.Equal(4ul, a.GetProperty("max_sequence").GetUInt64());
        Assert.Equal(1 + 2 + 3 + 4, a.GetProperty("loss").GetProperty("kernel_lost").GetInt64());
        Assert.Equal(4 * 2, a.GetProperty("loss").GetProperty("socket_overruns").GetInt64());
        Assert.Equal(10 + 8 + 12, a.GetProperty("loss").GetProperty("total_lost").GetInt64());
        long lastSeen = a.GetProperty("last_seen_unix_ms").GetInt64();
        Assert.InRange(lastSeen, DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeMilliseconds(), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        Assert.Equal((1, 3, 0), (agents[1].GetProperty("batches").GetInt32(), agents[1].GetProperty("events").GetInt32(), agents[1].GetProperty("duplicates").GetInt32()));
        // Delivery: one epoch each (''); agent-a has 1..4, agent-b's first batch is 7 of an epoch that starts at 1.
        Assert.Equal((1, 0, 0, 0, 0), (a.GetProperty("epochs").GetInt32(), a.GetProperty("delivery_gaps").GetInt64(),
            a.GetProperty("refused_batches").GetInt64(), a.GetProperty("refused_events").GetInt64(), a.GetProperty("conflicts").GetInt64()));
        Assert.False(a.GetProperty("interleaved_epochs").GetBoolean());
        Assert.False(a.GetProperty("interleaved_boot_ids").GetBoolean());
        Assert.Equal(6, agents[1].GetProperty("delivery_gaps").GetInt64());
        var range = agents[1].GetProperty("delivery").GetProperty("gap_ranges").EnumerateArray().Single();
        Assert.Equal(("", 1ul, 6ul), (range.GetProperty("epoch").GetString(), range.GetProperty("from").GetUInt64(), range.GetProperty("to").GetUInt64()));
    }

    [Fact]
    public async Task Run_Text_OneRowPerAgentUnderAHeader()
    {
        var (store, spec) = await Stores.CreateAsync();
        await using var h = await CollectorHarness.StartAsync(store);
        await h.Client().SendAsync(TestEvents.Batch(AgentB, 1, 12), Bearer(TokenB));
        await h.Client().SendAsync(TestEvents.Batch(AgentB, 1, 12), Bearer(TokenB));
        var stdout = new StringWriter();

        int rc = await StatsCommand.RunAsync(spec, json: false, stdout, new StringWriter(), CancellationToken.None);

        Assert.Equal(0, rc);
        // The table, then after a blank line what the store retains.
        var parts = stdout.ToString().Split("\n\n");
        var lines = parts[0].Split('\n');
        Assert.Equal(2, lines.Length);
        Assert.StartsWith("retained: events from 2025-11-25 00:00:00 UTC to 2025-11-25 00:00:00 UTC; never pruned", parts[1]);
        Assert.StartsWith("AGENT", lines[0]);
        var cells = lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal([AgentB, "agent-b.example", "1", "12", "1"], cells[..5]);
        // EPOCHS, DELIVERY GAPS, REFUSED, REFUSED EVENTS, CONFLICTS, INTERLEAVED close the row.
        Assert.EndsWith("INTERLEAVED", lines[0]);
        Assert.Equal(["1", "0", "0", "0", "0", "-"], cells[^6..]);
    }
}

public sealed class SqliteStatsCommandTests() : StatsCommandTests(new SqliteStoreFactory())
{
    [Fact]
    public async Task Run_MissingSqliteFile_FailsNamingIt()
    {
        var stderr = new StringWriter();

        int rc = await StatsCommand.RunAsync("sqlite:/nonexistent/x.db", json: false, new StringWriter(), stderr, CancellationToken.None);

        Assert.Equal(1, rc);
        Assert.Contains("no SQLite store at /nonexistent/x.db", stderr.ToString());
    }

    [Fact]
    public async Task Run_BadStoreSpec_UsageError()
    {
        var stderr = new StringWriter();

        int rc = await StatsCommand.RunAsync("mysql:x", json: false, new StringWriter(), stderr, CancellationToken.None);

        Assert.Equal(2, rc);
        Assert.Contains("expected sqlite:PATH or postgres:CONNSTRING", stderr.ToString());
    }
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresStatsCommandTests(PostgresFixture pg) : StatsCommandTests(new PostgresStoreFactory(pg.Cluster));
