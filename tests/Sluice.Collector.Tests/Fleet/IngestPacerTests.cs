using Microsoft.Extensions.Time.Testing;
using Sluice.Collector.Hosting;
using Sluice.Collector.Storage;
using Sluice.Collector.Tests.Support;

namespace Sluice.Collector.Tests.Fleet;

/// <summary>
/// The pacer's control, on the test's clock: what the front door reports (calls waiting, slots taken, completions) and
/// what the acks then carry. A small model of a saturated collector checks that the pace settles where the wait is near
/// the target, and that it goes when the load goes.
/// </summary>
public sealed class IngestPacerTests
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-12-05T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture));

    private IngestPacer Pacer(int targetMs = 1000, int maxMs = 60_000) =>
        new(_time, TimeSpan.FromMilliseconds(targetMs), TimeSpan.FromMilliseconds(maxMs));

    /// <summary><paramref name="count"/> calls start waiting for a slot.</summary>
    private static void Queue(IngestPacer pacer, int count)
    {
        for (int i = 0; i < count; i++)
        {
            pacer.WaitStarted();
        }
    }

    /// <summary><paramref name="count"/> calls stop waiting.</summary>
    private static void Dequeue(IngestPacer pacer, int count)
    {
        for (int i = 0; i < count; i++)
        {
            pacer.WaitEnded();
        }
    }

    /// <summary>Completes <paramref name="count"/> calls.</summary>
    private static void Complete(IngestPacer pacer, int count)
    {
        for (int i = 0; i < count; i++)
        {
            pacer.Completed();
        }
    }

    [Fact]
    public void NothingWaiting_AcksCarryNoPace()
    {
        var pacer = Pacer();
        for (int i = 0; i < 40; i++)
        {
            Complete(pacer, 10);
            _time.Advance(IngestPacer.Tick);
            Assert.Equal(0u, pacer.NextSendAfterMs());
        }
        Assert.Equal((0, 0L), (pacer.PaceSeconds, pacer.PacedAcks));
    }

    [Fact]
    public void WaitOverTheTarget_PaceGrows_AndEachAckCarriesItSpreadByAQuarter()
    {
        var pacer = Pacer();
        // 100 calls done a second, 500 waiting: a call arriving now waits about 5 s, against a target of 1 s.
        Queue(pacer, 500);
        for (int i = 0; i < 12; i++)
        {
            Complete(pacer, 25);
            _time.Advance(IngestPacer.Tick);
            pacer.Update();
        }
        Assert.InRange(pacer.ExpectedWaitSeconds, 4, 6);
        double pace = pacer.PaceSeconds;
        Assert.True(pace > 1, $"pace {pace} s after 3 s of a 5 s wait");

        // No tick passes: the pace stays, and every ack carries it times 0.75 to 1.25.
        var asked = Enumerable.Range(0, 400).Select(_ => pacer.NextSendAfterMs()).ToList();
        Assert.All(asked, ms => Assert.InRange(ms, (uint)Math.Floor(pace * 750), (uint)Math.Ceiling(pace * 1250)));
        Assert.True(asked.Distinct().Count() > 100, "the acks are spread, not all the same");
        Assert.Equal(400L, pacer.PacedAcks);
    }

    [Fact]
    public void QueueJustFormed_NotPacedOnItsFirstMoments()
    {
        // 1,000 agents starting at once: 1,500 calls wait, and the first quarter second completes 5 of them (the calls let in
        // are still being stored). Read over that quarter second, the rate (20/s) would pace every agent 75 s; the rate is
        // read over a second of waiting at least, and the collector completes 1,000 a second.
        var pacer = Pacer();
        Queue(pacer, 1500);
        Complete(pacer, 5);
        _time.Advance(IngestPacer.Tick);
        Assert.Equal(0u, pacer.NextSendAfterMs());
        // Not before a second of waiting.
        for (int i = 0; i < 2; i++)
        {
            Complete(pacer, 250);
            _time.Advance(IngestPacer.Tick);
            Assert.Equal(0u, pacer.NextSendAfterMs());
        }
        for (int i = 0; i < 5; i++)
        {
            Complete(pacer, 250);
            _time.Advance(IngestPacer.Tick);
            pacer.Update();
        }
        Assert.InRange(pacer.PaceSeconds, 0, 1.5);
    }

    [Fact]
    public void RateReadLowAtFirst_PaceGrowsSlowly_AndFallsOnceTheRateIsKnown()
    {
        // A collector warming up: 1,000 calls wait and it completes 20 a second for two seconds (its turn formula says
        // 50 s), then 1,000 a second. The pace grows by 2 s a second at most, and falls as soon as the rate is read.
        var pacer = Pacer();
        Queue(pacer, 1000);
        for (int i = 0; i < 8; i++)
        {
            Complete(pacer, 5);
            _time.Advance(IngestPacer.Tick);
            pacer.Update();
            Assert.True(pacer.PaceSeconds <= IngestPacer.MaxRisePerSecond * (i + 1) * IngestPacer.Tick.TotalSeconds + 1e-9, $"pace {pacer.PaceSeconds} s after {i + 1} ticks");
        }
        Assert.True(pacer.PaceSeconds > 0.5, $"pace {pacer.PaceSeconds} s while the queue grew");
        for (int i = 0; i < 12; i++)
        {
            Complete(pacer, 250);
            _time.Advance(IngestPacer.Tick);
            pacer.Update();
        }
        Assert.True(pacer.PaceSeconds < 1, $"pace {pacer.PaceSeconds} s at 1,000 calls a second with 1,000 waiting");
    }

    [Fact]
    public void PaceNeverExceedsTheMaximum()
    {
        var pacer = Pacer(maxMs: 2000);
        Queue(pacer, 10_000);
        // Nothing completes at all: the expected wait is as long as it gets.
        for (int i = 0; i < 400; i++)
        {
            _time.Advance(IngestPacer.Tick);
            pacer.Update();
        }
        Assert.Equal(2.0, pacer.PaceSeconds);
        // Spread below the maximum only: no ack asks for more than --max-pace-ms.
        var asked = Enumerable.Range(0, 200).Select(_ => pacer.NextSendAfterMs()).ToList();
        Assert.All(asked, ms => Assert.InRange(ms, 1500u, 2000u));
        Assert.Contains(asked, ms => ms < 1900);
    }

    [Fact]
    public void TargetZero_PacingOff_EvenUnderAQueue()
    {
        var pacer = Pacer(targetMs: 0);
        Queue(pacer, 1000);
        for (int i = 0; i < 40; i++)
        {
            Complete(pacer, 10);
            _time.Advance(IngestPacer.Tick);
            Assert.Equal(0u, pacer.NextSendAfterMs());
        }
        Assert.False(pacer.Enabled);
        Assert.Equal(0L, pacer.PacedAcks);
    }

    [Fact]
    public void LoadGone_PaceFallsToZero()
    {
        var pacer = Pacer();
        Queue(pacer, 1000);
        for (int i = 0; i < 20; i++)
        {
            Complete(pacer, 25);
            _time.Advance(IngestPacer.Tick);
            pacer.Update();
        }
        Assert.True(pacer.PaceSeconds > 1);
        Dequeue(pacer, 1000);
        // Nothing waits and every slot is idle: the pace goes within seconds.
        for (int i = 0; i < 40 && pacer.PaceSeconds > 0; i++)
        {
            _time.Advance(IngestPacer.Tick);
            pacer.Update();
        }
        Assert.Equal(0, pacer.PaceSeconds);
        Assert.Equal(0u, pacer.NextSendAfterMs());
    }

    [Fact]
    public void AfterALongQuiet_TheFirstAckIsNotHeldByAnOldPace()
    {
        var pacer = Pacer();
        Queue(pacer, 1000);
        for (int i = 0; i < 40; i++)
        {
            Complete(pacer, 25);
            _time.Advance(IngestPacer.Tick);
            pacer.Update();
        }
        Assert.True(pacer.PaceSeconds > 2);
        Dequeue(pacer, 1000);
        // No call for a minute, so no tick: the next ack finds the queue gone and the slots idle.
        _time.Advance(TimeSpan.FromMinutes(1));
        Complete(pacer, 1);
        Assert.Equal(0u, pacer.NextSendAfterMs());
    }

    /// <summary>
    /// A saturated collector, modelled: <paramref name="agents"/> agents (brought up over the first 20 s), each sending its next
    /// call as soon as its last is answered and its pace has passed, at least a second apart; the collector has 64 slots,
    /// takes waiting calls in arrival order, and holds each for 64 ÷ <paramref name="perSecond"/> s. Returns the longest wait
    /// for a slot in the last 30 s of two simulated minutes, and the calls completed.
    /// </summary>
    private (double LateMaxWait, long Completed, long LateCompleted) Saturate(int agents, int perSecond, IngestPacer pacer, int? perSecondAfterMinute = null)
    {
        const int slots = 64;
        const double step = 0.01;
        double service = (double)slots / perSecond;
        long lateCompleted = 0;
        var waiting = new Queue<(int Agent, double Arrived)>();
        var inSlots = new PriorityQueue<int, double>();
        var ready = new PriorityQueue<int, double>();
        var rng = new Random(7);
        for (int a = 0; a < agents; a++)
        {
            ready.Enqueue(a, rng.NextDouble() * 20);
        }
        double now = 0, lateMax = 0;
        long completed = 0;
        while (now < 120)
        {
            now += step;
            if (now >= 60 && perSecondAfterMinute is int after)
            {
                service = (double)slots / after;
            }
            _time.Advance(TimeSpan.FromSeconds(step));
            while (inSlots.TryPeek(out int a, out double done) && done <= now)
            {
                inSlots.Dequeue();
                pacer.Completed();
                completed++;
                lateCompleted += now > 90 ? 1 : 0;
                double hold = pacer.NextSendAfterMs() / 1000.0;
                ready.Enqueue(a, now + Math.Max(1, hold));
            }
            while (ready.TryPeek(out int a, out double at) && at <= now)
            {
                ready.Dequeue();
                waiting.Enqueue((a, now));
                pacer.WaitStarted();
            }
            while (inSlots.Count < slots && waiting.TryDequeue(out var call))
            {
                pacer.WaitEnded();
                if (now > 90)
                {
                    lateMax = Math.Max(lateMax, now - call.Arrived);
                }
                inSlots.Enqueue(call.Agent, now + service);
            }
        }
        return (lateMax, completed, lateCompleted);
    }

    [Fact]
    public void SaturatedFleet_SettlesWithTheWaitNearTheTarget_AndTheCollectorKeptBusy()
    {
        // 5,000 agents against 500 calls a second: unpaced, each call waits about 9 s (past the 10 s wait an agent's 15 s
        // deadline allows, once anything slows). Paced, the wait settles near the 1 s target.
        var pacer = Pacer();
        var (lateMaxWait, completed, _) = Saturate(agents: 5000, perSecond: 500, pacer);
        Assert.True(lateMaxWait < 3, $"calls still waited up to {lateMaxWait:0.0} s in the last 30 s");
        Assert.True(pacer.PaceSeconds is > 5 and < 15, $"pace {pacer.PaceSeconds:0.0} s; 5,000 agents at 500/s need about 9");
        // The collector stayed busy: at least 90 % of what it could complete in two minutes (less the first seconds of ramp).
        Assert.True(completed > 0.9 * 500 * 100, $"{completed} calls completed");
    }

    [Fact]
    public void SaturatedFleet_Unpaced_WaitsGrowToTheFleetOverTheRate()
    {
        // The same model with pacing off: the check above can fail.
        var pacer = Pacer(targetMs: 0);
        var (lateMaxWait, _, _) = Saturate(agents: 5000, perSecond: 500, pacer);
        Assert.True(lateMaxWait > 8, $"unpaced calls waited at most {lateMaxWait:0.0} s");
    }

    [Fact]
    public void SaturatedFleet_CollectorTwiceAsFast_FoundAgainAndKeptBusy()
    {
        // Half way, the collector completes 1,000 calls a second instead of 500 (a store that was slowed recovers): the paces
        // shorten until calls wait again, and the last 30 s complete near the new rate, still without long waits.
        var pacer = Pacer();
        var (lateMaxWait, _, lateCompleted) = Saturate(agents: 5000, perSecond: 500, pacer, perSecondAfterMinute: 1000);
        Assert.True(lateCompleted > 0.85 * 1000 * 30, $"{lateCompleted} calls completed in the last 30 s");
        Assert.True(lateMaxWait < 3, $"calls waited up to {lateMaxWait:0.0} s in the last 30 s");
        Assert.True(pacer.PaceSeconds is > 2 and < 7, $"pace {pacer.PaceSeconds:0.0} s; 5,000 agents at 1,000/s need about 4");
    }

    [Fact]
    public void HeldAgents_CountUntilTheirPaceEnds_AndLengthenTheNextPace()
    {
        var pacer = Pacer();
        Queue(pacer, 200);
        // 100 calls a second while 200 wait: a call's turn comes in 2 s, 1 s past the target.
        for (int i = 0; i < 12; i++)
        {
            Complete(pacer, 25);
            _time.Advance(IngestPacer.Tick);
            pacer.Update();
        }
        Assert.InRange(pacer.PaceSeconds, 0.9, 1.1);
        var asked = Enumerable.Range(0, 100).Select(_ => pacer.NextSendAfterMs()).ToList();
        Assert.Equal(100L, pacer.Held);

        // The 100 held come back after the 200 waiting: the next agent's turn is 3 s away (the pace grows to it over two ticks, before any of them has come back).
        for (int i = 0; i < 2; i++)
        {
            Complete(pacer, 25);
            _time.Advance(IngestPacer.Tick);
            pacer.Update();
        }
        Assert.InRange(pacer.PaceSeconds, 1.8, 2.2);

        // Once the longest pace asked has passed, none of them is held any more.
        _time.Advance(TimeSpan.FromMilliseconds(asked.Max()) + IngestPacer.Tick);
        Complete(pacer, 25);
        pacer.Update();
        Assert.Equal(0L, pacer.Held);
    }

    [Theory]
    [InlineData(-1, 60_000, "--pace-target-wait-ms -1: must be from 0 (no pacing) to 60000")]
    [InlineData(60_001, 60_000, "--pace-target-wait-ms 60001: must be from 0 (no pacing) to 60000")]
    [InlineData(1000, 999, "--max-pace-ms 999: must be from 1000 to 600000")]
    [InlineData(1000, 600_001, "--max-pace-ms 600001: must be from 1000 to 600000")]
    public void Options_PacingOutOfBounds_ThrowsNamingTheOption(int targetMs, int maxMs, string message)
    {
        var options = new CollectorOptions
        {
            Listen = "127.0.0.1:0",
            Store = new StoreLocation(StoreKind.Sqlite, "x"),
            AllowAnonymous = true,
            PaceTargetWait = TimeSpan.FromMilliseconds(targetMs),
            MaxPace = TimeSpan.FromMilliseconds(maxMs),
        };

        Assert.Equal(message, Assert.Throws<ArgumentException>(options.Validate).Message);
    }

    [Theory]
    [InlineData("--pace-target-wait-ms -5", "--pace-target-wait-ms -5: must be from 0 (no pacing) to 60000")]
    [InlineData("--max-pace-ms 10", "--max-pace-ms 10: must be from 1000 to 600000")]
    public async Task Serve_BadPacing_Exit2_NamingTheOption(string args, string message)
    {
        using var collector = CollectorProcess.Start(
            ["serve", "--listen", "127.0.0.1:0", "--store", "sqlite:" + Path.Combine(Path.GetTempPath(), $"sluice-pacing-{Guid.NewGuid():N}.db"), "--insecure-no-auth", .. args.Split(' ')]);
        int rc = await collector.ExitAsync(TimeSpan.FromMinutes(2));

        Assert.True(rc == 2, $"exit {rc}:\n{collector.Output}");
        Assert.Contains(message, collector.Output);
    }
}
