using Sluice.Collector.Storage;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Tests.Retention;

/// <summary>
/// A month and more of synthetic data ending a few days before today, as prune sees it: three agents, one batch a
/// day each from noon to the next morning (so every batch spans a midnight), 130 events 11 minutes apart (three
/// chunks), a heartbeat every 6 hours. Pruning 30 days takes days 0 to 9 whole; batch 10 spans the cutoff.
/// </summary>
internal static class RetentionData
{
    public const long DayMs = 86_400_000;
    public const int Days = 35;
    public const int PruneDays = 30;
    public const int EventsPerBatch = 130;
    public const long StepMs = 11 * 60_000;
    public static readonly string[] Agents = ["ret-a", "ret-b", "ret-c"];

    /// <summary>The start of today (UTC) at <paramref name="now"/>.</summary>
    public static long Today(DateTimeOffset now) => new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero).ToUnixTimeMilliseconds();

    /// <summary>Day 0: 40 days before today.</summary>
    public static long Day0(long today) => today - 40 * DayMs;

    /// <summary>What <c>prune --older-than 30</c> cuts at: the start of day 10.</summary>
    public static long Cutoff(long today) => today - PruneDays * DayMs;

    /// <summary>Stores the data through the store's own write path (no time bounds: every event under its own time).</summary>
    public static async Task FeedAsync(IEventStore store, long today)
    {
        long day0 = Day0(today);
        foreach (string agent in Agents)
        {
            for (int s = 1; s <= Days; s++)
            {
                long start = day0 + (s - 1) * DayMs + DayMs / 2;
                var batch = TestEvents.Batch(agent, (ulong)s, EventsPerBatch, firstSerial: s * 1000L, startUnixMs: start, stepMs: StepMs);
                var outcome = await store.StoreBatchAsync(batch, batch.IntervalEndUnixMs + 1000, CancellationToken.None);
                Assert.Equal(EventsPerBatch, outcome.EventsStored);
            }
            for (long t = day0; t < day0 + Days * DayMs; t += DayMs / 4)
            {
                await store.StoreHeartbeatAsync(new AgentHeartbeat
                {
                    AgentId = agent, Hostname = agent + ".example", BootId = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", Version = "1.0", Mode = "unicast",
                    TimeUnixMs = t, StartedUnixMs = day0, RulesHash = "sha256:4f2a", RulesCount = 3,
                    Kernel = new KernelSettings { Enabled = 1 }, LossTotals = new LossCounters(),
                }, t + 5, CancellationToken.None);
            }
        }
    }

    public static string Iso(long unixMs) =>
        DateTimeOffset.FromUnixTimeMilliseconds(unixMs).ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture);
}
