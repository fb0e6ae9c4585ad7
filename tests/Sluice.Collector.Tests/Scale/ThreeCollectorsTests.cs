using System.Globalization;
using System.Text.Json;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;
using Xunit.Abstractions;

namespace Sluice.Collector.Tests.Scale;

/// <summary>
/// Three <c>sluice-collector serve</c> processes on one PostgreSQL database, six agent identities (each
/// its own token and epoch) spread over them by the order of their collector lists, two batches in
/// flight each. Mid-load the first collector is killed with SIGKILL, and later started again on its
/// port. Then every (agent, epoch, sequence) sent is stored exactly once with its events, compared row
/// by row, and the dashboard's API and <c>stats --json</c> give the same answer from every collector.
/// </summary>
/// <remarks>
/// The agent's own shipper against two collector processes is <c>Sluice.Agent.Tests/EndToEnd/FailoverEndToEndTests</c>
/// (one agent); here it is many identities at once over three, and what the collectors answer afterwards.
/// No timing is asserted: each phase waits for an amount of acknowledged batches, with minutes of patience.
/// </remarks>
[Collection(PostgresCollection.Name)]
public sealed class ThreeCollectorsTests(PostgresFixture postgres, ITestOutputHelper output)
{
    private const int Collectors = 3;
    private const int Agents = 6;
    private const int EventsPerBatch = 20;
    private const int BatchesPerPhase = 150;
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(4);

    [Fact]
    public async Task ThreeCollectorsOnOnePostgres_OneKilledMidLoadAndRestarted_EveryBatchStoredOnce_SameAnswerFromEach()
    {
        string store = "postgres:" + await postgres.Cluster.CreateDatabaseAsync();
        var identities = Enumerable.Range(1, Agents).Select(i => ($"scale-{i}", $"scale-token-{i}-0123456789abcdef")).ToList();
        using var collectors = new ScaleCollectors(store, Collectors, identities);
        await collectors.StartAllAsync();

        long t0 = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000 * 1000 - 10 * 60_000;
        // Agent i prefers collector i % 3, then the next ones: two agents start on each collector.
        var agents = identities.Select((id, i) => new ScaleAgent(id.Item1, id.Item2, collectors.Urls,
            [.. Enumerable.Range(0, Collectors).Select(k => (i + k) % Collectors)], t0, EventsPerBatch)).ToList();
        try
        {
            foreach (var a in agents)
            {
                await a.HeartbeatAsync(t0);
            }
            using var stop = new CancellationTokenSource();
            var load = agents.Select(a => a.RunAsync(inFlight: 2, pause: TimeSpan.FromMilliseconds(10), stop.Token)).ToList();
            int Acked() => agents.Sum(a => a.Acked.Count);
            async Task WaitForAsync(Func<bool> done, string what)
            {
                var deadline = DateTimeOffset.UtcNow + Patience;
                while (!done())
                {
                    if (load.FirstOrDefault(t => t.IsCompleted) is { } ended)
                    {
                        await ended; // a refusal or an exhausted retry: its exception
                        throw new InvalidOperationException("an agent stopped sending before " + what);
                    }
                    Assert.True(DateTimeOffset.UtcNow < deadline, $"no {what} within {Patience}; acked {Acked()}\n{collectors.Outputs()}");
                    await Task.Delay(100);
                }
            }

            await WaitForAsync(() => Acked() >= BatchesPerPhase, $"{BatchesPerPhase} batches acknowledged");
            collectors.Kill(0);
            var killedAt = DateTimeOffset.UtcNow;
            int atKill = Acked();
            await WaitForAsync(() => Acked() >= atKill + BatchesPerPhase, "batches acknowledged with collector 0 down");
            await collectors.RestartAsync(0);
            var restartedAt = DateTimeOffset.UtcNow;
            await WaitForAsync(() => agents.Sum(a => a.Attempts.Count(t => t.Collector == 0 && t.At > restartedAt && t.Outcome == ScaleAttempt.Stored)) >= 30,
                "batches stored by collector 0 after its restart");
            await stop.CancelAsync();
            await Task.WhenAll(load);
            long end = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            foreach (var a in agents)
            {
                await a.HeartbeatAsync(end);
            }

            var attempts = agents.SelectMany(a => a.Attempts.Select(t => (a.AgentId, t))).ToList();
            var failedAtKilled = attempts.Count(x => x.t.Collector == 0 && x.t.At >= killedAt && x.t.At < restartedAt
                && x.t.Outcome is not (ScaleAttempt.Stored or ScaleAttempt.Duplicate));
            output.WriteLine($"batches sent {agents.Sum(a => a.Sent.Count)}, attempts {attempts.Count}, failed at the killed collector {failedAtKilled}, " +
                $"duplicate acks {attempts.Count(x => x.t.Outcome == ScaleAttempt.Duplicate)}; attempts by collector and outcome: " +
                string.Join(", ", attempts.GroupBy(x => (x.t.Collector, x.t.Outcome)).OrderBy(g => g.Key).Select(g => $"{g.Key.Collector}/{g.Key.Outcome} {g.Count()}")));
            // The kill was seen, and the agents that prefer collector 0 went on through the others meanwhile.
            Assert.True(failedAtKilled > 0, "no attempt failed at the killed collector");
            Assert.Contains(attempts, x => x.t.Collector != 0 && x.t.At > killedAt && x.t.At < restartedAt
                && x.t.Outcome == ScaleAttempt.Stored && agents.IndexOf(agents.Single(a => a.AgentId == x.AgentId)) % Collectors == 0);
            // Every batch acknowledged exactly once (as the agent sees it), none lost.
            Assert.All(agents, a => Assert.All(a.Sent.Keys, s => Assert.Equal(1, a.Acked.GetValueOrDefault(s))));

            await AssertStoredExactlyOnceAsync(store, agents);
            await AssertSameAnswerFromEachAsync(collectors, agents, t0 - 60_000, end + 1);
            await AssertPolicyReachesEveryCollectorAsync(collectors, agents[0]);
        }
        finally
        {
            agents.ForEach(a => a.Dispose());
        }
    }

    /// <summary>The store holds each batch sent once, under its agent, epoch and sequence, with its events once each, and nothing else.</summary>
    private async Task AssertStoredExactlyOnceAsync(string store, List<ScaleAgent> agents)
    {
        var expectedBatches = agents.SelectMany(a => a.Sent.Values.Select(b => $"{a.AgentId} {b.Epoch} {b.Sequence} {b.Events.Count}")).Order(StringComparer.Ordinal).ToList();
        var storedBatches = (await StoreQuery.RowsAsync(store,
            "SELECT a.agent_id, b.epoch, b.sequence, b.event_count FROM batches b JOIN agents a ON a.id = b.agent"))
            .Select(r => string.Join(' ', r)).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(expectedBatches.Count, storedBatches.Count);
        Assert.Equal(expectedBatches, storedBatches);
        // Per agent, sequences 1..N with no gap: the batches sent are exactly those.
        Assert.All(agents, a => Assert.Equal(Enumerable.Range(1, a.Sent.Count).Select(i => (ulong)i), a.Sent.Keys.Order()));

        var expectedEvents = agents.SelectMany(a => a.Sent.Values.SelectMany(b => b.Events.Select(e => $"{a.AgentId} {b.Sequence} {e.Serial}")))
            .Order(StringComparer.Ordinal).ToList();
        var storedEvents = (await StoreQuery.RowsAsync(store,
            "SELECT a.agent_id, b.sequence, e.serial FROM events e JOIN batches b ON b.id = e.batch_id JOIN agents a ON a.id = e.agent"))
            .Select(r => string.Join(' ', r)).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(expectedEvents.Count, storedEvents.Count);
        Assert.Equal(expectedEvents, storedEvents);
        output.WriteLine($"stored {storedBatches.Count} batches and {storedEvents.Count} events, each once");
    }

    /// <summary>
    /// Fleet, each host, two searches and the whole report, from each collector, over a range that ended before the
    /// first question (so no answer depends on when it was asked): identical but for their generation time.
    /// <c>stats --json</c> reads the store, not a collector: it agrees with what was sent.
    /// </summary>
    private async Task AssertSameAnswerFromEachAsync(ScaleCollectors collectors, List<ScaleAgent> agents, long from, long to)
    {
        while (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() <= to)
        {
            await Task.Delay(50);
        }
        string range = string.Create(CultureInfo.InvariantCulture, $"from={from / 1000.0:F3}&to={to / 1000.0:F3}");
        List<string> paths =
        [
            "/api/fleet?" + range,
            .. agents.Select(a => $"/api/hosts/{a.AgentId}?{range}"),
            "/api/events?" + range + "&limit=1000",
            $"/api/events?{range}&agent={agents[0].AgentId}&exe=/usr/bin/sudo&limit=50",
            "/api/report?" + range,
        ];
        foreach (string path in paths)
        {
            var answers = new List<string>();
            for (int c = 0; c < Collectors; c++)
            {
                answers.Add(ScaleCollectors.WithoutGenerationTime(await collectors.GetAsync(c, path)));
            }
            Assert.All(answers, a => Assert.Equal(answers[0], a));
        }

        using var fleet = JsonDocument.Parse(await collectors.GetAsync(1, "/api/fleet?" + range));
        var hosts = fleet.RootElement.GetProperty("hosts").EnumerateArray().ToDictionary(h => h.GetProperty("agent_id").GetString()!, h => h);
        Assert.Equal(agents.Select(a => a.AgentId).Order(StringComparer.Ordinal), hosts.Keys.Order(StringComparer.Ordinal));
        foreach (var a in agents)
        {
            Assert.Equal(a.Sent.Count, hosts[a.AgentId].GetProperty("batches").GetInt64());
            Assert.Equal(a.Sent.Count * (long)EventsPerBatch, hosts[a.AgentId].GetProperty("events").GetInt64());
        }

        var stats = CollectorProcess.Start(["stats", "--store", collectors.Store, "--json"]);
        Assert.Equal(0, await stats.ExitAsync(TimeSpan.FromMinutes(2)));
        using var json = JsonDocument.Parse(stats.Output);
        var byAgent = json.RootElement.GetProperty("agents").EnumerateArray().ToDictionary(x => x.GetProperty("agent_id").GetString()!, x => x);
        foreach (var a in agents)
        {
            var s = byAgent[a.AgentId];
            Assert.Equal(a.Sent.Count, s.GetProperty("batches").GetInt64());
            Assert.Equal(a.Sent.Count * (long)EventsPerBatch, s.GetProperty("events").GetInt64());
            Assert.Equal(a.Sent.Count, s.GetProperty("max_sequence").GetInt64());
            // A resend the store recognised is counted even when its answer was lost (the kill), so at least those the agent saw.
            Assert.True(s.GetProperty("duplicates").GetInt64() >= a.Attempts.Count(t => t.Outcome == ScaleAttempt.Duplicate));
            Assert.Equal(0, s.GetProperty("delivery_gaps").GetInt64());
            Assert.Equal(0, s.GetProperty("conflicts").GetInt64());
            Assert.Equal(1, s.GetProperty("epochs").GetInt64());
        }
        stats.Dispose();

        // Per process, and so legitimately different: what each collector handled since it started.
        for (int c = 0; c < Collectors; c++)
        {
            output.WriteLine($"collector {c} /api/ingest: {await collectors.GetAsync(c, "/api/ingest")}");
        }
    }

    /// <summary>
    /// Each collector keeps the central policies in memory (<c>Policy/PolicyCache</c>), read from the store again every
    /// two seconds: a <c>policy set</c> by the CLI reaches the heartbeat answers of every collector, the same policy from each.
    /// </summary>
    private static async Task AssertPolicyReachesEveryCollectorAsync(ScaleCollectors collectors, ScaleAgent agent)
    {
        string rules = Path.Combine(Path.GetDirectoryName(collectors.TokensFile)!, "scale.rules");
        await File.WriteAllTextAsync(rules, "-a always,exit -F arch=b64 -S execve -k exec\n");
        var set = CollectorProcess.Start(["policy", "set", "--rules", rules, "--no-check", "--store", collectors.Store]);
        Assert.True(await set.ExitAsync(TimeSpan.FromMinutes(2)) == 0, set.Output);
        set.Dispose();

        var hashes = new string[Collectors];
        for (int c = 0; c < Collectors; c++)
        {
            var deadline = DateTimeOffset.UtcNow + Patience;
            HeartbeatReply reply;
            while ((reply = await agent.HeartbeatToAsync(c, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds())).PolicyHash.Length == 0)
            {
                Assert.True(DateTimeOffset.UtcNow < deadline, $"collector {c} sent no policy within {Patience}");
                await Task.Delay(200);
            }
            Assert.Contains("-k exec", reply.Policy.Rules, StringComparison.Ordinal);
            hashes[c] = reply.PolicyHash;
        }
        Assert.All(hashes, h => Assert.Equal(hashes[0], h));
    }
}
