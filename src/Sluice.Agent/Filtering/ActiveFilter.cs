using Sluice.Agent.Configuration;

namespace Sluice.Agent.Filtering;

/// <summary>
/// The filter in force, replaceable while the drain runs: the pipeline reads <see cref="Current"/>
/// once per event, so every event is judged whole by either the old rules or the new ones, and
/// none is lost in the swap. A rule kept across a swap (same name and action) keeps its counts.
/// </summary>
internal sealed class ActiveFilter
{
    private readonly TimeProvider _time;
    private readonly Lock _swap = new();
    private volatile EventFilter _current;

    public ActiveFilter(IReadOnlyList<FilterRuleOptions> rules, TimeProvider time)
    {
        _time = time;
        _current = new EventFilter(rules, time);
    }

    /// <summary>The filter to judge the next event with.</summary>
    public EventFilter Current => _current;

    /// <summary>Puts <paramref name="rules"/> in force from the next event on.</summary>
    public void Replace(IReadOnlyList<FilterRuleOptions> rules)
    {
        lock (_swap)
        {
            _current = new EventFilter(rules, _time, _current);
        }
    }

    /// <summary>Per rule counts of the filter in force.</summary>
    public IReadOnlyList<FilterCount> Counts => _current.Counts;
}
