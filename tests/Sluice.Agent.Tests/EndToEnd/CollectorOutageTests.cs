using System.Diagnostics;
using System.Text.Json;
using Sluice.Agent.Monitoring;
using Sluice.Testing;

namespace Sluice.Agent.Tests.EndToEnd;

/// <summary>The collector goes away for 30 s under load and comes back on the same port and store: the spool carries everything.</summary>
[Collection(KernelAuditFixture.Collection)]
public sealed class CollectorOutageTests : EndToEndTest
{
    [Fact]
    public void CollectorDown30sUnderLoad_EveryEventStoredOnce_SpoolDepthGrewDuringOutage()
    {
        const int rate = 1000;
        const int n = rate * 42; // 6 s before the outage, 30 s of it, and some after
        var outage = TimeSpan.FromSeconds(30);
        Collector.Start();
        string key = TestRules.UniqueKey("outage");
        // Retries back off to at most 2 s, so delivery resumes soon after the collector is back.
        using var agent = AgentRunner.Start(MarkedLoad.Rule(key), dir => Collector.AgentConfig(dir, """, "RetryMaxDelay": "00:00:02", "BreakerBreakDuration": "00:00:02" """));
        agent.WaitReady();

        using var load = MarkedLoad.Start(n, rate);
        agent.WaitFor(m => m.Spool is { AckedEvents: > rate }, TimeSpan.FromSeconds(30), "the first events to be acknowledged");
        Thread.Sleep(TimeSpan.FromSeconds(3));

        Collector.Stop();
        long downMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var samples = new List<(long AtMs, MetricsSnapshot M)>();
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < outage)
        {
            samples.Add((DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), agent.Metrics()));
            Thread.Sleep(1000);
        }
        var last = (AtMs: DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), M: agent.Metrics());
        samples.Add(last);
        Assert.False(load.HasExited, "the load ended before the outage did; it must run through it");
        Collector.Start();

        load.WaitDone(TimeSpan.FromSeconds(60));
        var events = Collector.WaitForExport(e => e.Count(x => load.Marker(x) is not null) >= n, TimeSpan.FromSeconds(90), atLeast: n);
        Assert.Equal(0, agent.Stop());

        // Every call of the load stored exactly once: no gap, no duplicate.
        events = Collector.Export();
        var ours = events.Where(e => load.Marker(e) is not null).ToList();
        var markers = ours.Select(e => load.Marker(e)!.Value).ToList();
        Assert.Equal(n, markers.Count);
        Assert.Equal(n, markers.Distinct().Count());
        Assert.Equal(0, markers.Min());
        Assert.Equal(n - 1, markers.Max());
        Assert.Equal(events.Count, events.Select(e => e.GetProperty("serial").GetUInt64()).Distinct().Count());

        // The spool held the outage: its depth only grew while the collector was down, and at the
        // end held at least every event of ours made from 2 s into the outage to 1 s before the sample
        // (none of which could have been shipped).
        Assert.All(samples, s => Assert.NotNull(s.M.Spool));
        var depths = samples.Select(s => s.M.Spool!.Value.DepthEvents).ToList();
        for (int i = 1; i < depths.Count; i++)
        {
            Assert.True(depths[i] >= depths[i - 1], $"spool depth fell during the outage: {string.Join(", ", depths)}");
        }
        long madeDuringOutage = ours.Count(e => e.GetProperty("time_unix_ms").GetInt64() is long t && t >= downMs + 2000 && t < last.AtMs - 1000);
        Assert.True(madeDuringOutage > rate * (outage.TotalSeconds - 5), $"the load made only {madeDuringOutage} events in the outage");
        Assert.True(depths[^1] - depths[0] >= madeDuringOutage,
            $"spool depth went {depths[0]} -> {depths[^1]} events, but {madeDuringOutage} of ours were made in the outage");
        Assert.Equal(0, last.M.TotalLoss);
        var stats = Collector.Stats();
        Assert.Equal(0, stats.GetProperty("loss").GetProperty("total_lost").GetInt64());
    }
}
