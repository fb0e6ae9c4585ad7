using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Sluice.Collector.Hosting;
using Sluice.Collector.Tests.Support;

namespace Sluice.Collector.Tests.Hosting;

public sealed class RefusalLogTests : IDisposable
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 25, 0, 0, 0, TimeSpan.Zero));
    private readonly LogLines _lines = new();
    private readonly ILoggerFactory _factory;
    private readonly RefusalLog _log;

    public RefusalLogTests()
    {
        _factory = LoggerFactory.Create(b => _lines.AddTo(b));
        _log = new RefusalLog(_factory.CreateLogger<RefusalLog>(), _time, Interval);
    }

    public void Dispose()
    {
        _log.Dispose();
        _factory.Dispose();
    }

    private void Refuse(string peer, string reason = RefusalLog.Unauthenticated, int times = 1)
    {
        for (int i = 0; i < times; i++)
        {
            _log.Refused(peer, reason, "Send", StatusCode.Unauthenticated, "no agent token");
        }
    }

    private IReadOnlyList<string> Lines => _lines.With(150, 151, 152);

    [Fact]
    public void Refused_ManyWithinTheInterval_FirstLoggedRestSummedInOneLineWhenTheIntervalEnds()
    {
        Refuse("10.0.0.7", times: 500);

        Assert.Equal(["Refused Send from 10.0.0.7: Unauthenticated no agent token"], Lines);

        _time.Advance(Interval);

        Assert.Equal(2, Lines.Count);
        Assert.Equal("499 more unauthenticated refusals from 10.0.0.7 in the last 10 s, not logged one by one (all are counted in /api/ingest)", Lines[1]);
    }

    [Fact]
    public void Refused_AFloodThatGoesOn_OneLinePerInterval()
    {
        for (int second = 0; second < 60; second++)
        {
            Refuse("10.0.0.7", times: 100);
            _time.Advance(TimeSpan.FromSeconds(1));
        }

        // The first refusal, then one summary per 10 s (at 10, 20, ... 60 s): 99 + 9 x 100 = 999 in the
        // first, 1000 in each after; 6000 refusals in all.
        Assert.Equal(7, Lines.Count);
        Assert.Equal([999L, 1000L, 1000L, 1000L, 1000L, 1000L], Lines.Skip(1).Select(l => long.Parse(l.Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture)));
    }

    [Fact]
    public void Refused_OtherPeerOrOtherReason_LoggedApart()
    {
        Refuse("10.0.0.7", times: 3);
        Refuse("10.0.0.8", times: 3);
        Refuse("10.0.0.7", RefusalLog.OverLimit, times: 3);

        Assert.Equal(3, Lines.Count);
        Assert.Equal(["10.0.0.7", "10.0.0.8", "10.0.0.7"], Lines.Select(l => l.Split(' ')[3].TrimEnd(':')));
    }

    [Fact]
    public void Refused_AfterAQuietInterval_LoggedAtOnceWithoutASummary()
    {
        Refuse("10.0.0.7");
        _time.Advance(Interval);
        _time.Advance(Interval);

        Refuse("10.0.0.7");

        Assert.Equal(2, Lines.Count);
        Assert.All(Lines, l => Assert.StartsWith("Refused Send from 10.0.0.7", l));
    }

    [Fact]
    public void Refused_MorePeersThanTheTableHolds_NewOnesShareOneKey()
    {
        for (int i = 0; i < RefusalLog.MaxPeers + 50; i++)
        {
            Refuse($"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}");
        }

        // One line per peer while the table has room, then one for the first of the rest; the 49 after it are summed.
        Assert.Equal(RefusalLog.MaxPeers + 1, Lines.Count);
        _time.Advance(Interval);
        Assert.Equal($"49 more unauthenticated refusals from {RefusalLog.OtherPeers} in the last 10 s, not logged one by one (all are counted in /api/ingest)", Lines[^1]);
    }
}
