namespace Sluice.Collector.Hosting;

/// <summary>
/// Paces a fleet through its acknowledgements (<c>Ack.next_send_after_ms</c>): when batch calls wait at the front door
/// for a slot longer than <c>targetWait</c>, each ack tells its agent how long to hold its next call, so that the wait
/// moves from the collector, where a call holds its connection's buffers and is refused once it has waited too long, to
/// the agents, whose batches wait in their spools.
/// </summary>
/// <remarks>
/// <para>
/// The pace is the agent's turn: the calls ahead of it when it comes back are the calls waiting now and the agents
/// already told to hold (each counted until its pace ends), and the collector completes C calls a second, so the
/// agent comes back after (waiting + held) ÷ C, less the target wait. An agent that keeps to it finds the calls ahead of
/// it done and waits about the target. With N agents each sending as soon as allowed, the pace settles near N ÷ C
/// with nothing to tune: 10,000 agents on a collector that completes 600 calls a second hold about 16 s each.
/// </para>
/// <para>
/// C is the completion rate read over the last 1-2 s while calls waited throughout (the collector was then working at
/// what it can), followed smoothly; nothing is paced before such a reading. The pace grows by 2 s a second at most, and
/// falls at once: a rate read low while the collector warms up would otherwise hold agents far too long. While none waits, C is at least the rate
/// read, and while agents are held it grows by 5 % a second, so that a collector that became faster is found again:
/// shorter paces bring calls back until they wait.
/// </para>
/// <para>
/// Each ack carries the pace times a random factor from 0.75 to 1.25, so that agents told at the same moment do not
/// come back together. What an ack carries never exceeds <c>maxPace</c>; past it the front door's bounded wait and refusal are what
/// is left. A target of zero turns pacing off: every ack carries 0, and the expected wait is still reported.
/// </para>
/// <para>
/// The figures are updated every <see cref="Tick"/> by the first call or status read that finds one due (no timer): a
/// collector without calls has nothing to pace. Heartbeats are not paced and do not count: they have slots of their own.
/// </para>
/// </remarks>
internal sealed class IngestPacer
{
    /// <summary>How often the pace is adjusted.</summary>
    internal static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(250);

    /// <summary>The width of the buckets that count held agents by the time their pace ends.</summary>
    private static readonly TimeSpan Bucket = TimeSpan.FromMilliseconds(100);

    /// <summary>How long calls must have waited throughout before the completion rate is read over that time.</summary>
    internal static readonly TimeSpan SaturatedWindow = TimeSpan.FromSeconds(1);

    /// <summary>How fast the completion rate follows its readings: the weight of one second of readings.</summary>
    private const double RatePerSecond = 1.2;

    /// <summary>How much the pace may grow in a second (seconds).</summary>
    internal const double MaxRisePerSecond = 2;

    /// <summary>How fast the completion rate grows, per second, while agents are held and no call waits.</summary>
    private const double ProbePerSecond = 1.05;

    public const int DefaultTargetWaitMs = 1000;
    public const int DefaultMaxPaceMs = 60_000;

    private readonly TimeProvider _time;
    private readonly double _target;
    private readonly double _max;
    private readonly Lock _lock = new();
    private int _waiting;
    private long _completed;
    private long _pacedAcks;

    // Agents held, by the bucket their pace ends in (a ring longer than the longest pace), and their total.
    private readonly int[] _returns;
    private long _held;
    // The last bucket whose agents are no longer counted (under _lock; read without it).
    private long _expiredUpTo;

    // Under _lock.
    private long _lastTick;
    private double _rate;
    private bool _rateKnown;
    // The ticks of the last 2 s: when, and the completions by then.
    private readonly Queue<(long At, long Completed)> _ticks = new();
    // The tick before calls were first seen waiting, while they still wait.
    private long? _saturatedSince;

    // Written under _lock, read without it.
    private double _pace;
    private double _expectedWait;

    public IngestPacer(TimeProvider time, TimeSpan targetWait, TimeSpan maxPace)
    {
        _time = time;
        _target = targetWait.TotalSeconds;
        _max = maxPace.TotalSeconds;
        // Room for the longest pace, and a tick's buckets to spare.
        _returns = new int[(int)Math.Ceiling(maxPace / Bucket) + 16];
        _lastTick = time.GetTimestamp();
        _expiredUpTo = BucketOf(_lastTick);
    }

    /// <summary>True when the collector paces (a positive target wait).</summary>
    public bool Enabled => _target > 0;

    /// <summary>The pace in force (seconds; 0: none).</summary>
    public double PaceSeconds => Volatile.Read(ref _pace);

    /// <summary>What a call arriving at the last tick could expect to wait for a slot (seconds).</summary>
    public double ExpectedWaitSeconds => Volatile.Read(ref _expectedWait);

    /// <summary>Agents told to hold whose pace has not ended yet.</summary>
    public long Held => Interlocked.Read(ref _held);

    /// <summary>Acks that carried a pace, since start.</summary>
    public long PacedAcks => Interlocked.Read(ref _pacedAcks);

    /// <summary>A batch call started waiting for a slot.</summary>
    public void WaitStarted() => Interlocked.Increment(ref _waiting);

    /// <summary>A batch call stopped waiting (it got a slot, or was refused, or went away).</summary>
    public void WaitEnded() => Interlocked.Decrement(ref _waiting);

    /// <summary>A batch call gave its slot back: one completion.</summary>
    public void Completed() => Interlocked.Increment(ref _completed);

    /// <summary>What the ack of a call answered now carries: the pace, spread by a random factor, in ms (0: none).</summary>
    public uint NextSendAfterMs()
    {
        if (!Enabled)
        {
            return 0;
        }
        Update();
        double pace = Volatile.Read(ref _pace);
        if (pace <= 0)
        {
            return 0;
        }
        Interlocked.Increment(ref _pacedAcks);
        double spread = Math.Min(pace * (0.75 + (0.5 * Random.Shared.NextDouble())), _max);
        long ends = Math.Max(BucketOf(_time.GetTimestamp() + (long)(spread * _time.TimestampFrequency)), Volatile.Read(ref _expiredUpTo) + 1);
        Interlocked.Increment(ref _returns[ends % _returns.Length]);
        Interlocked.Increment(ref _held);
        return (uint)Math.Clamp(Math.Round(spread * 1000), 1, uint.MaxValue);
    }

    private long BucketOf(long timestamp) => (long)(timestamp / (Bucket.TotalSeconds * _time.TimestampFrequency));

    /// <summary>Adjusts the pace if a tick has passed since the last adjustment.</summary>
    internal void Update()
    {
        long now = _time.GetTimestamp();
        if (_time.GetElapsedTime(Volatile.Read(ref _lastTick), now) < Tick || !_lock.TryEnter())
        {
            return;
        }
        try
        {
            double dt = _time.GetElapsedTime(_lastTick, now).TotalSeconds;
            if (dt < Tick.TotalSeconds)
            {
                return;
            }
            ExpireHeld(BucketOf(now));

            long completed = Interlocked.Read(ref _completed);
            int waiting = Math.Max(0, Volatile.Read(ref _waiting));
            long held = Interlocked.Read(ref _held);
            _ticks.Enqueue((now, completed));
            while (_time.GetElapsedTime(_ticks.Peek().At, now) > 2 * SaturatedWindow)
            {
                _ticks.Dequeue();
            }
            if (waiting > 0)
            {
                // Read over 1-2 s of calls waiting throughout: a queue's first moments complete little (the calls let in are
                // still being stored), and a rate read over them paced 1,000 agents that a collector kept up with for up to 30 s.
                _saturatedSince ??= _lastTick;
                if (Reading(now, completed, _saturatedSince.Value) is { } reading)
                {
                    _rate = _rateKnown ? _rate + (reading - _rate) * Math.Min(1, dt * RatePerSecond) : reading;
                    _rateKnown = true;
                }
            }
            else
            {
                _saturatedSince = null;
                // At least what was done in the last 1-2 s. Not one tick's reading: a group of calls answered by one commit
                // read as a rate far above the collector's, and the pace fell with it.
                if (Reading(now, completed, long.MinValue) is { } reading && reading > _rate)
                {
                    _rate = reading;
                    _rateKnown = true;
                }
                if (held > 0 && _rateKnown)
                {
                    _rate *= Math.Pow(ProbePerSecond, Math.Min(dt, 1));
                }
            }
            Volatile.Write(ref _lastTick, now);
            double rate = Math.Max(_rate, 1);
            Volatile.Write(ref _expectedWait, _rateKnown ? waiting / rate : 0);
            double pace = Enabled && _rateKnown ? ((waiting + held) / rate) - _target : 0;
            // Up by at most MaxRisePerSecond, down at once: a rate read low (a collector just started, its first calls slow)
            // asked 1,000 agents for 50 s each, which then held their pace and counted as held for as long.
            pace = Math.Min(pace, _pace + MaxRisePerSecond * Math.Min(dt, 1));
            Volatile.Write(ref _pace, Math.Clamp(pace, 0, _max));
        }
        finally
        {
            _lock.Exit();
        }
    }

    /// <summary>Calls completed per second since the first tick at or after <paramref name="since"/> (within the last 2 s), if that spans a second at least.</summary>
    private double? Reading(long now, long completed, long since)
    {
        foreach (var (at, then) in _ticks)
        {
            if (at >= since)
            {
                double span = _time.GetElapsedTime(at, now).TotalSeconds;
                return span >= SaturatedWindow.TotalSeconds ? (completed - then) / span : null;
            }
        }
        return null;
    }

    /// <summary>Stops counting the agents whose pace ended by bucket <paramref name="current"/>.</summary>
    private void ExpireHeld(long current)
    {
        long from = _expiredUpTo + 1;
        if (current - from >= _returns.Length)
        {
            // Quiet for longer than any pace: every hold has ended.
            from = current - _returns.Length + 1;
        }
        long ended = 0;
        for (long b = from; b <= current; b++)
        {
            ended += Interlocked.Exchange(ref _returns[b % _returns.Length], 0);
        }
        Volatile.Write(ref _expiredUpTo, current);
        Interlocked.Add(ref _held, -ended);
    }
}
