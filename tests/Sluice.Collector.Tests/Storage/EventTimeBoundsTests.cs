using Sluice.Collector.Storage;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Tests.Storage;

/// <summary>Which time each event is indexed under (<see cref="IndexTimes"/>), with the default bounds: 400 days back, 1 day ahead, 4 days a batch.</summary>
public sealed class EventTimeBoundsTests
{
    private const long Day = 86_400_000;
    // 2026-12-05T12:00:00Z.
    private static readonly long Received = DateTimeOffset.Parse("2026-12-05T12:00:00Z").ToUnixTimeMilliseconds();

    private static EventBatch BatchAt(params long[] times)
    {
        var batch = TestEvents.Batch("a", 1, 0);
        for (int i = 0; i < times.Length; i++)
        {
            batch.Events.Add(TestEvents.Exec(i + 1, times[i], i));
        }
        return batch;
    }

    private static (long[] Times, bool[] Adjusted, int Count) Apply(EventBatch batch, EventTimeBounds? bounds)
    {
        var t = IndexTimes.Of(batch, Received, bounds);
        return (
            batch.Events.Select((e, i) => t.TimeMs(i, e)).ToArray(),
            batch.Events.Select((_, i) => t.IsAdjusted(i)).ToArray(),
            t.Adjusted);
    }

    [Fact]
    public void Of_NoBounds_EveryEventUnderItsOwnTime()
    {
        var batch = BatchAt(1, Received + 100 * Day);

        var (times, adjusted, count) = Apply(batch, null);

        Assert.Equal([1, Received + 100 * Day], times);
        Assert.Equal([false, false], adjusted);
        Assert.Equal(0, count);
    }

    [Fact]
    public void Of_EdgesOfTheBounds_InclusiveAndOneMillisecondBeyondAdjusted()
    {
        long oldest = Received - 400 * Day;
        long latest = Received + Day;
        var batch = BatchAt(oldest, oldest - 1, latest, latest + 1, Received - 5);

        var (times, adjusted, count) = Apply(batch, EventTimeBounds.Default);

        Assert.Equal([oldest, Received, latest, Received, Received - 5], times);
        Assert.Equal([false, true, false, true, false], adjusted);
        Assert.Equal(2, count);
    }

    [Fact]
    public void Of_FourDaysNoneAdjusted_AllKeptAlthoughTheReceiveDayIsNotAmongThem()
    {
        var batch = BatchAt(Received - 10 * Day, Received - 9 * Day, Received - 8 * Day, Received - 7 * Day, Received - 7 * Day + 1);

        var (_, adjusted, count) = Apply(batch, EventTimeBounds.Default);

        Assert.All(adjusted, Assert.False);
        Assert.Equal(0, count);
    }

    [Fact]
    public void Of_FiveDays_ReceiveDayAndTheThreeBusiestKept()
    {
        // Day -10: 3 events, -9: 1, -8: 2, -7: 1, -6: 2. Five days for four: the receive day (the adjusted events go
        // there) and the three busiest, -10, -8 and -6.
        long d10 = Received - 10 * Day, d9 = Received - 9 * Day, d8 = Received - 8 * Day, d7 = Received - 7 * Day, d6 = Received - 6 * Day;
        var batch = BatchAt(d10, d9, d8, d7, d6, d10, d8, d6, d10);

        var (times, adjusted, count) = Apply(batch, EventTimeBounds.Default);

        Assert.Equal([d10, Received, d8, Received, d6, d10, d8, d6, d10], times);
        Assert.Equal(2, count);
        Assert.Equal(2, adjusted.Count(a => a));
    }

    [Fact]
    public void Of_TieForTheLastDay_EarlierDayKept()
    {
        // One event out of bounds takes the receive day; days -10, -9, -8, -7 have one event each: -10, -9, -8 are kept.
        long d10 = Received - 10 * Day, d9 = Received - 9 * Day, d8 = Received - 8 * Day, d7 = Received - 7 * Day;
        var batch = BatchAt(d7, d8, d9, d10, 1000);

        var (times, _, count) = Apply(batch, EventTimeBounds.Default);

        Assert.Equal([Received, d8, d9, d10, Received], times);
        Assert.Equal(2, count);
    }

    [Fact]
    public void Of_ThreeDaysAndTheReceiveDay_AllKept()
    {
        // The receive day with its own events, and one adjusted event that joins them: four days in all.
        var batch = BatchAt(Received - 3 * Day, Received - 2 * Day, Received - Day, Received - 1, 1);

        var (times, _, count) = Apply(batch, EventTimeBounds.Default);

        Assert.Equal([Received - 3 * Day, Received - 2 * Day, Received - Day, Received - 1, Received], times);
        Assert.Equal(1, count);
    }

    [Fact]
    public void Of_SmallerDayBudget_Applied()
    {
        // Three days for two: the receive day and the busiest other day (-2) are kept.
        var batch = BatchAt(Received - 3 * Day, Received - 2 * Day, Received - 2 * Day, Received - Day);

        var (times, _, count) = Apply(batch, EventTimeBounds.Default with { MaxDaysPerBatch = 2 });

        Assert.Equal([Received, Received - 2 * Day, Received - 2 * Day, Received], times);
        Assert.Equal(2, count);
    }
}
