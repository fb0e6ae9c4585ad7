using Npgsql;
using Sluice.Collector.Tests.Support;
using Sluice.Testing;
using Xunit.Abstractions;

namespace Sluice.Agent.Tests.EndToEnd;

/// <summary>
/// The real agent, on the kernel, with <c>Shipping:CollectorUrls</c> naming two real collector
/// processes on one PostgreSQL: the first is killed (SIGKILL) under a marked load and comes back
/// later. Every call of the load is stored exactly once, every batch once by (agent, epoch,
/// sequence), both collectors took batches, and <c>status</c> showed each collector's state.
/// </summary>
[Collection(KernelAuditFixture.Collection)]
public sealed class FailoverAgentEndToEndTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly KernelStateGuard _guard = new();
    private PostgresCluster? _postgres;
    private string _connectionString = "";

    public async Task InitializeAsync()
    {
        _postgres = await PostgresCluster.StartAsync();
        // No spaces: the test's export and stats runs split their arguments on them.
        var made = new NpgsqlConnectionStringBuilder(await _postgres.CreateDatabaseAsync());
        _connectionString = $"Host={made.Host};Port={made.Port};Username={made.Username};Database={made.Database}";
    }

    public async Task DisposeAsync()
    {
        try
        {
            if (_postgres is not null)
            {
                await _postgres.DisposeAsync();
            }
        }
        finally
        {
            _guard.Dispose();
        }
    }

    [Fact]
    public void Agent_TwoCollectorsOnOnePostgres_FirstKilledUnderLoadAndRestarted_EveryEventStoredOnce()
    {
        const int rate = 1000;
        const int n = rate * 30;
        string store = "postgres:" + _connectionString;
        using var a = new CollectorProcess(store);
        using var b = new CollectorProcess(store);
        a.Start();
        b.Start();
        string key = TestRules.UniqueKey("failover");
        using var agent = AgentRunner.Start(MarkedLoad.Rule(key), dir => $$"""
            "AgentId": "{{CollectorProcess.AgentId}}",
            "Sink": { "Type": "Collector" },
            "Spool": { "Directory": "{{dir}}/spool" },
            "Shipping": { "CollectorUrls": [ "{{a.Url}}", "{{b.Url}}" ], "Token": "{{CollectorProcess.Token}}", "AllowInsecureTransport": true,
                          "QuarantineDirectory": "{{dir}}/quarantine", "RetryMaxDelay": "00:00:01", "BreakerBreakDuration": "00:00:01" },
            "Batching": { "MaxDelay": "00:00:00.200" }
            """);
        agent.WaitReady();

        using var load = MarkedLoad.Start(n, rate);
        var before = agent.WaitFor(m => m.Shipping is { } s && s.Collectors[0].AckedEvents > rate * 3, TimeSpan.FromSeconds(60), "the first collector to take events");
        Assert.Equal(2, before.Shipping!.Collectors.Count);
        Assert.Equal(0, before.Shipping.Collectors[1].AckedBatches);

        a.Kill();
        var down = agent.WaitFor(m => m.Shipping!.Collectors[1].AckedEvents > rate * 3, TimeSpan.FromSeconds(60), "the second collector to take events");
        Assert.Contains(down.Shipping!.Collectors[0].State, new[] { "down", "probe due" });
        // The second is current while the first is down; once the first's backoff has run out ("probe due"), the next attempt probes it.
        Assert.Equal(down.Shipping.Collectors[0].State == "down", down.Shipping.Collectors[1].Current);
        Assert.False(load.HasExited, "the load ended before the first collector came back; it must run through the outage");
        long aBeforeKill = down.Shipping.Collectors[0].AckedBatches;

        a.Start();
        agent.WaitFor(m => m.Shipping!.Collectors[0].AckedBatches > aBeforeKill + 10, TimeSpan.FromSeconds(60), "the restarted collector to take batches again");
        load.WaitDone(TimeSpan.FromSeconds(90));
        var done = agent.WaitFor(m => m.Spool is { DepthBatches: 0 } && m.Shipping!.InFlight == 0, TimeSpan.FromSeconds(90), "an empty spool");
        var events = a.WaitForExport(e => e.Count(x => load.Marker(x) is not null) >= n, TimeSpan.FromSeconds(90), atLeast: n);
        Assert.Equal(0, agent.Stop());

        // Every call of the load stored exactly once: no gap, no duplicate; and no event of any kind twice.
        var markers = events.Select(load.Marker).OfType<long>().ToList();
        Assert.Equal(n, markers.Count);
        Assert.Equal(n, markers.Distinct().Count());
        Assert.Equal((0L, n - 1L), (markers.Min(), markers.Max()));
        Assert.Equal(events.Count, events.Select(e => e.GetProperty("serial").GetUInt64()).Distinct().Count());

        // Every batch once by (agent, epoch, sequence), with no gap in the sequences; the agent's acks add up to them.
        var batches = Batches();
        Assert.Equal(batches.Count, batches.Select(r => (r.Epoch, r.Sequence)).Distinct().Count());
        Assert.Single(batches.Select(r => r.Epoch).Distinct());
        var sequences = batches.Select(r => r.Sequence).Order().ToList();
        Assert.Equal(Enumerable.Range((int)sequences[0], sequences.Count).Select(i => (long)i), sequences);
        // Each ack the agent counted is a batch of its own in the store (the agent cut more batches
        // between this snapshot and its stop, so the store may hold more than it counted).
        var collectors = done.Shipping!.Collectors;
        Assert.True(collectors.Sum(c => c.AckedBatches) <= batches.Count, $"acks {collectors.Sum(c => c.AckedBatches)}, stored batches {batches.Count}");
        Assert.True(collectors.Sum(c => c.AckedEvents) <= batches.Sum(r => r.Events), $"acked events {collectors.Sum(c => c.AckedEvents)}, stored {batches.Sum(r => r.Events)}");
        Assert.True(collectors[0].AckedBatches > aBeforeKill && collectors[1].AckedBatches > 0,
            $"acks: A {collectors[0].AckedBatches} ({aBeforeKill} before the kill), B {collectors[1].AckedBatches}");
        Assert.Equal(0, done.TotalLoss);
        output.WriteLine($"{batches.Count} batches, {batches.Sum(r => r.Events)} events; {n} marked calls");
        foreach (var c in collectors)
        {
            output.WriteLine($"{c.Url}: {c.AckedBatches} batches acked ({c.DuplicateAcks} duplicate), {c.Failures} failed attempts, {c.Heartbeats} heartbeats, {c.State}{(c.Current ? " (current)" : "")}");
        }
    }

    private List<(string Epoch, long Sequence, long Events)> Batches()
    {
        using var connection = new NpgsqlConnection(_connectionString);
        connection.Open();
        using var command = new NpgsqlCommand(
            "SELECT b.epoch, b.sequence, b.event_count FROM batches b JOIN agents a ON a.id = b.agent WHERE a.agent_id = @agent", connection);
        command.Parameters.AddWithValue("agent", CollectorProcess.AgentId);
        var rows = new List<(string, long, long)>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            rows.Add((reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2)));
        }
        return rows;
    }
}
