using Sluice.Collector.Storage.Postgres;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Storage;

/// <summary>
/// Which event times a store indexes as they are, relative to the batch's receive time: at most
/// <see cref="MaxAge"/> before it, <see cref="MaxAhead"/> after it, and at most <see cref="MaxDaysPerBatch"/>
/// distinct UTC days per batch. Any other event is indexed under the receive time (<c>events.time_ms</c>) with
/// <c>events.time_adjusted</c> true; its exact copy keeps its own time.
/// </summary>
/// <remarks>
/// The agent stamps event times and a token holder may send any. Unbounded, one batch spread over thousands of
/// days made PostgreSQL create a day partition for each (about ten relations apiece) until it ran out of shared
/// memory. With these bounds a batch touches at most <see cref="MaxDaysPerBatch"/> days, all within
/// [received - MaxAge, received + MaxAhead]. Both stores apply the same rule, so they index alike.
/// </remarks>
internal sealed record EventTimeBounds
{
    public static readonly EventTimeBounds Default = new();

    /// <summary>Oldest event time indexed as it is, before the receive time (default 400 days: a year and a margin).</summary>
    public TimeSpan MaxAge { get; init; } = TimeSpan.FromDays(400);

    /// <summary>Latest event time indexed as it is, after the receive time (default 1 day: a broken clock, not a fact to index).</summary>
    public TimeSpan MaxAhead { get; init; } = TimeSpan.FromDays(1);

    /// <summary>
    /// Distinct UTC days one batch may index events in, the receive day included when an event is adjusted to it
    /// (default 4). On PostgreSQL each day is a partition: this bounds the partitions one batch creates.
    /// </summary>
    public int MaxDaysPerBatch { get; init; } = 4;

    public const int MaxDaysPerBatchLimit = 64;

    /// <summary>Throws naming the bound that makes no sense.</summary>
    public void Validate()
    {
        if (MaxAge <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(MaxAge), MaxAge, "must be positive");
        if (MaxAhead < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(MaxAhead), MaxAhead, "must not be negative");
        if (MaxDaysPerBatch is < 2 or > MaxDaysPerBatchLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxDaysPerBatch), MaxDaysPerBatch, $"must be from 2 to {MaxDaysPerBatchLimit}");
        }
    }
}

/// <summary>The time each event of one batch is indexed under (<see cref="EventTimeBounds"/>).</summary>
internal readonly struct IndexTimes
{
    private readonly bool[]? _adjusted;
    private readonly long _receivedUnixMs;

    private IndexTimes(bool[]? adjusted, int count, long receivedUnixMs)
    {
        _adjusted = adjusted;
        Adjusted = count;
        _receivedUnixMs = receivedUnixMs;
    }

    /// <summary>Events indexed under the receive time instead of their own.</summary>
    public int Adjusted { get; }

    public bool IsAdjusted(int index) => _adjusted is not null && _adjusted[index];

    /// <summary><c>events.time_ms</c> of event <paramref name="index"/>, which is <paramref name="e"/>.</summary>
    public long TimeMs(int index, Event e) => IsAdjusted(index) ? _receivedUnixMs : e.TimeUnixMs;

    /// <summary>Every event under its own time: for a store made without bounds.</summary>
    public static IndexTimes Own => default;

    /// <summary>Applies <paramref name="bounds"/> to <paramref name="batch"/>; null bounds keep every event's own time.</summary>
    public static IndexTimes Of(EventBatch batch, long receivedUnixMs, EventTimeBounds? bounds)
    {
        var events = batch.Events;
        if (bounds is null || events.Count == 0)
        {
            return Own;
        }
        long earliest = Saturating.Add(receivedUnixMs, -(long)bounds.MaxAge.TotalMilliseconds);
        long latest = Saturating.Add(receivedUnixMs, (long)bounds.MaxAhead.TotalMilliseconds);
        bool[]? adjusted = null;
        int count = 0;
        for (int i = 0; i < events.Count; i++)
        {
            long t = events[i].TimeUnixMs;
            if (t < earliest || t > latest)
            {
                adjusted ??= new bool[events.Count];
                adjusted[i] = true;
                count++;
            }
        }

        // The days the batch would touch: those of the events kept, and the receive day if any was adjusted.
        long receiveDay = PostgresSchema.Day(receivedUnixMs);
        Span<long> days = stackalloc long[bounds.MaxDaysPerBatch];
        int distinct = 0;
        if (count > 0)
        {
            days[distinct++] = receiveDay;
        }
        bool over = false;
        for (int i = 0; i < events.Count && !over; i++)
        {
            if (adjusted is not null && adjusted[i])
            {
                continue;
            }
            long day = PostgresSchema.Day(events[i].TimeUnixMs);
            if (!days[..distinct].Contains(day))
            {
                if (distinct == days.Length)
                {
                    over = true;
                }
                else
                {
                    days[distinct++] = day;
                }
            }
        }
        if (over)
        {
            count += KeepBusiestDays(batch, receiveDay, bounds.MaxDaysPerBatch, ref adjusted);
        }
        return new IndexTimes(adjusted, count, receivedUnixMs);
    }

    /// <summary>
    /// Too many days: the receive day (events are adjusted to it) and the <paramref name="maxDays"/> - 1 other days
    /// with the most events (the earlier day first on a tie) keep their events; those of any other day are adjusted.
    /// </summary>
    /// <returns>The events adjusted here.</returns>
    private static int KeepBusiestDays(EventBatch batch, long receiveDay, int maxDays, ref bool[]? adjusted)
    {
        var events = batch.Events;
        var perDay = new Dictionary<long, int>();
        for (int i = 0; i < events.Count; i++)
        {
            long day = PostgresSchema.Day(events[i].TimeUnixMs);
            if ((adjusted is null || !adjusted[i]) && day != receiveDay)
            {
                perDay[day] = perDay.GetValueOrDefault(day) + 1;
            }
        }
        var kept = perDay.OrderByDescending(d => d.Value).ThenBy(d => d.Key).Take(maxDays - 1).Select(d => d.Key).ToHashSet();
        adjusted ??= new bool[events.Count];
        int count = 0;
        for (int i = 0; i < events.Count; i++)
        {
            long day = PostgresSchema.Day(events[i].TimeUnixMs);
            if (!adjusted[i] && day != receiveDay && !kept.Contains(day))
            {
                adjusted[i] = true;
                count++;
            }
        }
        return count;
    }
}
