namespace Sluice.Collector.Hosting;

/// <summary>
/// Paces a fleet through its acknowledgements (<c>Ack.next_send_after_ms</c>): when batch calls wait at the front door
/// for a slot longer than <c>targetWait</c>, each ack tells its agent how long to hold its next call, so that the wait
/// moves from the collector, where a call holds its connection's buffers and is refused once it has waited too long, to
/// the agents, whose batches wait in their spools.
/// </summary>
/// <remarks>
/// <para>
/// The pace is one figure for every agent, adjusted every <see cref="Tick"/> from two readings of the front door: the
/// wait a call arriving now can expect (calls waiting for a slot ÷ calls completed per second), and, when none waits,
/// how busy the slots are. While the expected wait is above the target the pace grows; while nothing waits it shrinks,
/// faster the more slots stand idle. The step is the error over the length of an agent's cycle (pace + wait + 1 s),
/// times <see cref="Gain"/>: a change of pace shows in the front door's queue only once the agents told have come
/// back, so a controller that moved faster overshot. With N agents each sending as soon as allowed and C calls stored
/// per second, it settles where the agents' cycle is N ÷ C and the wait is near the target: 10,000 agents on a
/// collector that stores 900 batches a second hold about 10 s each, and their calls wait about a second.
/// </para>
/// <para>
/// Each ack carries the pace times a random factor from 0.75 to 1.25, so that agents told at the same moment do not
/// come back together. The pace never exceeds <c>maxPace</c>; past it the front door's bounded wait and refusal are what
/// is left. A target of zero turns pacing off: every ack carries 0.
/// </para>
/// <para>
/// The figures are updated by the first call that finds a tick due (no timer): a collector without calls has nothing
/// to pace. Heartbeats are not paced and do not count: they have slots of their own.
/// </para>
/// </remarks>
internal sealed class IngestPacer(TimeProvider time, int slots, TimeSpan targetWait, TimeSpan maxPace)
{
    /// <summary>How often the pace is adjusted.</summary>
    internal static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(250);

    /// <summary>The share of an agent's cycle by which one second of error moves the pace in one second.</summary>
    internal const double Gain = 2.0;

    /// <summary>How fast the completion rate follows its readings: the weight of one second of readings.</summary>
    private const double RatePerSecond = 1.2;

    /// <summary>The least error that shrinks the pace while nothing waits (seconds).</summary>
    private const double MinDecrease = 0.25;

    public const int DefaultTargetWaitMs = 1000;
    public const int DefaultMaxPaceMs = 60_000;

    private readonly Lock _lock = new();
    private readonly double _target = targetWait.TotalSeconds;
    private readonly double _max = maxPace.TotalSeconds;
    private int _waiting;
    private int _busy;
    private long _completed;
    private long _pacedAcks;

    // Under _lock.
    private long _lastTick = time.GetTimestamp();
    private long _completedAtTick;
    private double _rate;

    // Written under _lock, read without it.
    private double _pace;
    private double _expectedWait;

    /// <summary>True when the collector paces (a positive target wait).</summary>
    public bool Enabled => _target > 0;

    /// <summary>The pace in force (seconds; 0: none).</summary>
    public double PaceSeconds => Volatile.Read(ref _pace);

    /// <summary>What a call arriving at the last tick could expect to wait for a slot (seconds).</summary>
    public double ExpectedWaitSeconds => Volatile.Read(ref _expectedWait);

    /// <summary>Acks that carried a pace, since start.</summary>
    public long PacedAcks => Interlocked.Read(ref _pacedAcks);

    /// <summary>A batch call started waiting for a slot.</summary>
    public void WaitStarted() => Interlocked.Increment(ref _waiting);

    /// <summary>A batch call stopped waiting (it got a slot, or was refused, or went away).</summary>
    public void WaitEnded() => Interlocked.Decrement(ref _waiting);

    /// <summary>A batch call took a slot.</summary>
    public void Entered() => Interlocked.Increment(ref _busy);

    /// <summary>A batch call gave its slot back: one completion.</summary>
    public void Left()
    {
        Interlocked.Decrement(ref _busy);
        Interlocked.Increment(ref _completed);
    }

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
        double spread = pace * (0.75 + (0.5 * Random.Shared.NextDouble()));
        return (uint)Math.Clamp(Math.Round(spread * 1000), 1, uint.MaxValue);
    }

    /// <summary>Adjusts the pace if a tick has passed since the last adjustment.</summary>
    internal void Update()
    {
        long now = time.GetTimestamp();
        if (time.GetElapsedTime(Volatile.Read(ref _lastTick), now) < Tick || !_lock.TryEnter())
        {
            return;
        }
        try
        {
            double dt = time.GetElapsedTime(_lastTick, now).TotalSeconds;
            if (dt < Tick.TotalSeconds)
            {
                return;
            }
            long completed = Interlocked.Read(ref _completed);
            double reading = (completed - _completedAtTick) / dt;
            _rate += (reading - _rate) * Math.Min(1, dt * RatePerSecond);
            _completedAtTick = completed;
            Volatile.Write(ref _lastTick, now);

            int waiting = Math.Max(0, Volatile.Read(ref _waiting));
            double expected = waiting == 0 ? 0 : waiting / Math.Max(_rate, 1);
            double pace = _pace;
            double error;
            if (waiting > 0)
            {
                error = expected - _target;
            }
            else
            {
                double idle = 1 - Math.Clamp((double)Volatile.Read(ref _busy) / slots, 0, 1);
                // At least a quarter of a second: a small target alone would let a pace shrink by halves, never reaching 0.
                error = -Math.Max(Math.Max(_target, MinDecrease), pace * idle);
            }
            // A long gap between ticks (no calls answered) may end any pace at once, but grows one by a second's step at most.
            double step = error > 0 ? Math.Min(dt, 1) : dt;
            pace += Gain * error * step / (pace + expected + 1);
            Volatile.Write(ref _pace, Math.Clamp(pace, 0, _max));
            Volatile.Write(ref _expectedWait, expected);
        }
        finally
        {
            _lock.Exit();
        }
    }
}
