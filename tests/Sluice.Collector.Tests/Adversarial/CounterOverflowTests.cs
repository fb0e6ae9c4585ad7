using System.Text.Json;
using Sluice.Collector.Cli;
using Sluice.Collector.Storage;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;
using static Sluice.Collector.Tests.Support.CollectorHarness;

namespace Sluice.Collector.Tests.Adversarial;

/// <summary>
/// Issue 14, case 4: loss counters of 2^63-1 (and u64 beyond) in one batch and 1 in another made <c>stats</c> fail
/// for every agent (SQLite "integer overflow", PostgreSQL "bigint out of range") and totals go negative. Sums now
/// stop at 2^63-1. Through the real gRPC collector, on each store.
/// </summary>
public abstract class CounterOverflowTests : PerStoreTests
{
    private protected CounterOverflowTests(IStoreFactory stores) : base(stores)
    {
    }

    private const long Max = long.MaxValue;

    private static LossCounters AllAt(ulong value) => new()
    {
        KernelLost = value, SocketOverruns = value, SerialGaps = value, SpoolDroppedEvents = value, SpoolDroppedBatches = value,
        ReassemblyEvicted = value, Truncated = value, ParseErrors = value, BacklogWaitTimeActual = value, Filtered = value,
        QuarantinedBatches = value, QuarantinedEvents = value, QuarantineTrimmedBatches = value, QuarantineTrimmedEvents = value,
        SpoolCorruptBatches = value, SpoolCorruptEvents = value,
    };

    [Fact]
    public async Task Stats_LossCountersOfTwoToThe63Minus1AndMoreInBatchesAndHeartbeats_TotalsSaturateNothingFailsOrGoesNegative()
    {
        var (store, spec) = await Stores.CreateAsync();
        await using var h = await CollectorHarness.StartAsync(store);
        var client = h.Client();
        // agent-a: 2^63-1 in one batch, 1 in the next, u64 max (beyond what a bigint holds) in a third.
        var first = TestEvents.Batch(AgentA, 1, 2);
        first.Loss = AllAt(long.MaxValue);
        var second = TestEvents.Batch(AgentA, 2, 2, firstSerial: 10);
        second.Loss = AllAt(1);
        var third = TestEvents.Batch(AgentA, 3, 2, firstSerial: 20);
        third.Loss = AllAt(ulong.MaxValue);
        foreach (var b in new[] { first, second, third })
        {
            Assert.Equal(2u, (await client.SendAsync(b, Bearer(TokenA))).EventsStored);
        }
        // Heartbeats at the largest values each field can carry.
        for (int i = 0; i < 2; i++)
        {
            await client.HeartbeatAsync(new AgentHeartbeat
            {
                AgentId = AgentA, Hostname = "agent-a.example", BootId = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", Version = "1", Mode = "unicast",
                TimeUnixMs = TestEvents.BaseUnixMs + i, StartedUnixMs = TestEvents.BaseUnixMs,
                Kernel = new KernelSettings
                {
                    Enabled = uint.MaxValue, Failure = uint.MaxValue, Pid = uint.MaxValue, RateLimit = uint.MaxValue, BacklogLimit = uint.MaxValue,
                    BacklogWaitTime = uint.MaxValue, Lost = uint.MaxValue, Backlog = uint.MaxValue, BacklogWaitTimeActual = uint.MaxValue,
                },
                LossTotals = AllAt(ulong.MaxValue), SpoolDepthBytes = ulong.MaxValue, SpoolDepthBatches = ulong.MaxValue,
                SocketBufferBytes = uint.MaxValue, DrainIntervalMs = uint.MaxValue, RulesCount = uint.MaxValue,
            }, Bearer(TokenA));
        }
        // agent-b: ordinary counters, to show one agent's counters do not spoil another's.
        await client.SendAsync(TestEvents.Batch(AgentB, 1, 3), Bearer(TokenB));

        var json = new StringWriter();
        var text = new StringWriter();
        var errors = new StringWriter();
        int jsonRc = await StatsCommand.RunAsync(spec, json: true, json, errors, CancellationToken.None);
        int textRc = await StatsCommand.RunAsync(spec, json: false, text, errors, CancellationToken.None);
        var stats = await h.Store.GetAgentStatsAsync(CancellationToken.None);

        Assert.Equal((0, 0, ""), (jsonRc, textRc, errors.ToString()));
        using var doc = JsonDocument.Parse(json.ToString());
        var agents = doc.RootElement.GetProperty("agents").EnumerateArray().ToList();
        Assert.Equal([AgentA, AgentB], agents.Select(a => a.GetProperty("agent_id").GetString()));
        var loss = agents[0].GetProperty("loss");
        foreach (string column in LossColumns.Names)
        {
            Assert.Equal(Max, loss.GetProperty(column).GetInt64());
        }
        Assert.Equal(Max, loss.GetProperty("total_lost").GetInt64());
        Assert.Equal((3, 6), (agents[0].GetProperty("batches").GetInt32(), agents[0].GetProperty("events").GetInt32()));
        // What the agent explained saturates too; sequences 1..3 are all there, so no gap either way.
        Assert.Equal(Max, agents[0].GetProperty("delivery").GetProperty("explained_by_agent").GetInt64());
        Assert.Equal(0, agents[0].GetProperty("delivery_gaps").GetInt64());
        Assert.Equal((1L, 2L, 3L, 5L), (agents[1].GetProperty("loss").GetProperty("kernel_lost").GetInt64(),
            agents[1].GetProperty("loss").GetProperty("socket_overruns").GetInt64(), agents[1].GetProperty("loss").GetProperty("serial_gaps").GetInt64(),
            agents[1].GetProperty("loss").GetProperty("filtered").GetInt64()));
        Assert.DoesNotContain(AdversarialReport.Numbers(doc.RootElement), n => n.Value < 0);
        Assert.All(stats[0].Loss.GetType().GetProperties().Where(p => p.PropertyType == typeof(long)), p => Assert.Equal(Max, (long)p.GetValue(stats[0].Loss)!));
        var row = text.ToString().Split('\n')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(AgentA, row[0]);
        // LOST, KERNEL, OVERRUN, GAPS, SPOOL, EVICTED: after AGENT HOST BATCHES EVENTS DUPLICATES and the two-word time.
        Assert.Equal(Enumerable.Repeat("9223372036854775807", 6), row[7..13]);
        Assert.DoesNotContain(row, cell => cell.StartsWith('-') && cell.Length > 1);
    }
}

public sealed class SqliteCounterOverflowTests() : CounterOverflowTests(new SqliteStoreFactory());

[Collection(PostgresCollection.Name)]
public sealed class PostgresCounterOverflowTests(PostgresFixture pg) : CounterOverflowTests(new PostgresStoreFactory(pg.Cluster));
