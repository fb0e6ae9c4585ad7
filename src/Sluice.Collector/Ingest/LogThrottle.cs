namespace Sluice.Collector.Ingest;

/// <summary>
/// At most one log line per key (an agent id) per <see cref="Interval"/>, so that a sender repeating a refused
/// call cannot flood the log; the line that is written says how many were held back since the last one.
/// </summary>
/// <remarks>
/// Keys are bounded (<paramref name="maxKeys"/>): beyond that, keys quiet for an interval are forgotten, and if
/// all are busy the table starts over (a forgotten key's next line is written, with its held-back count lost).
/// </remarks>
internal sealed class LogThrottle(TimeProvider time, TimeSpan interval, int maxKeys = 4096)
{
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public TimeSpan Interval => interval;

    /// <summary>True when a line for <paramref name="key"/> may be written now; <paramref name="suppressed"/> is how many were not since the last.</summary>
    public bool TryEnter(string key, out long suppressed)
    {
        long now = time.GetTimestamp();
        lock (_lock)
        {
            if (_entries.TryGetValue(key, out var entry) && time.GetElapsedTime(entry.Written, now) < interval)
            {
                _entries[key] = entry with { Suppressed = entry.Suppressed + 1 };
                suppressed = 0;
                return false;
            }
            suppressed = entry.Suppressed;
            if (!_entries.ContainsKey(key) && _entries.Count >= maxKeys)
            {
                foreach (var (k, e) in _entries.ToList())
                {
                    if (time.GetElapsedTime(e.Written, now) >= interval)
                    {
                        _entries.Remove(k);
                    }
                }
                if (_entries.Count >= maxKeys)
                {
                    _entries.Clear();
                }
            }
            _entries[key] = new Entry(now, 0);
            return true;
        }
    }

    private readonly record struct Entry(long Written, long Suppressed);
}
