using Microsoft.Extensions.Time.Testing;
using Sluice.Collector.Ingest;

namespace Sluice.Collector.Tests.Ingest;

public sealed class LogThrottleTests
{
    [Fact]
    public void TryEnter_RepeatedWithinInterval_OneLinePerKeyThenTheHeldBackCount()
    {
        var time = new FakeTimeProvider();
        var throttle = new LogThrottle(time, TimeSpan.FromSeconds(60));
        var written = new List<(string Key, long Suppressed)>();
        void Try(string key)
        {
            if (throttle.TryEnter(key, out long suppressed))
            {
                written.Add((key, suppressed));
            }
        }

        for (int i = 0; i < 5; i++)
        {
            Try("a");
        }
        Try("b");
        time.Advance(TimeSpan.FromSeconds(59));
        Try("a");
        time.Advance(TimeSpan.FromSeconds(1));
        Try("a");
        Try("a");
        time.Advance(TimeSpan.FromSeconds(60));
        Try("b");

        Assert.Equal([("a", 0L), ("b", 0L), ("a", 5L), ("b", 0L)], written);
    }

    [Fact]
    public void TryEnter_MoreKeysThanTheBound_QuietKeysForgottenAndEveryNewKeyWritten()
    {
        var time = new FakeTimeProvider();
        var throttle = new LogThrottle(time, TimeSpan.FromSeconds(10), maxKeys: 3);
        Assert.True(throttle.TryEnter("a", out _));
        Assert.True(throttle.TryEnter("b", out _));
        time.Advance(TimeSpan.FromSeconds(11));
        Assert.True(throttle.TryEnter("c", out _));

        // a and b are quiet: forgotten to make room; c is kept.
        Assert.True(throttle.TryEnter("d", out _));
        Assert.True(throttle.TryEnter("e", out _));
        Assert.False(throttle.TryEnter("c", out _));
        Assert.False(throttle.TryEnter("e", out _));
        // All three busy: the table starts over rather than growing.
        Assert.True(throttle.TryEnter("f", out _));
        Assert.True(throttle.TryEnter("c", out long suppressed));
        Assert.Equal(0, suppressed);
    }
}
