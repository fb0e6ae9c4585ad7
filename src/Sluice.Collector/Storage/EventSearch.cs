using System.Globalization;

namespace Sluice.Collector.Storage;

/// <summary>What to look for among stored events: a time range and any of key, user, exe, argv substring, agent.</summary>
/// <remarks>
/// Every filter given must match. <see cref="User"/> matches the login uid (auid) or the uid.
/// <see cref="Exe"/> with a '/' is the whole path; without one it is the program name, the last
/// path component (<c>sudo</c> finds <c>/usr/bin/sudo</c>). <see cref="ArgvContains"/> is a
/// case-sensitive substring of the arguments joined by spaces. Results are newest first, at most
/// <see cref="Limit"/>, continuing strictly after <see cref="Before"/> when it is given.
/// </remarks>
internal sealed record EventSearch
{
    public const int MaxLimit = 1000;

    /// <summary>[FromUnixMs, ToUnixMs) on the event time.</summary>
    public required long FromUnixMs { get; init; }
    public required long ToUnixMs { get; init; }
    public string? AgentId { get; init; }
    public string? Key { get; init; }
    public long? User { get; init; }
    public string? Exe { get; init; }
    public string? ArgvContains { get; init; }
    /// <summary>Parent exe, container and unit (<see cref="ContextFilter"/>).</summary>
    public ContextFilter Context { get; init; } = new();
    public int Limit { get; init; } = 100;
    public EventCursor? Before { get; init; }
}

/// <summary>Where an event sits in the newest-first order: its time, then its batch row and position.</summary>
internal readonly record struct EventCursor(long TimeUnixMs, long BatchId, long Ordinal)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{TimeUnixMs}.{BatchId}.{Ordinal}");

    public static bool TryParse(string text, out EventCursor cursor)
    {
        cursor = default;
        var parts = text.Split('.');
        if (parts.Length != 3
            || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long t)
            || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long b)
            || !long.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out long o))
        {
            return false;
        }
        cursor = new EventCursor(t, b, o);
        return true;
    }
}

/// <summary>One found event: its search columns (not the payload) and where it came from.</summary>
internal sealed record EventHit
{
    public required string AgentId { get; init; }
    public required string Hostname { get; init; }
    public required long TimeUnixMs { get; init; }
    public required long Serial { get; init; }
    public required string FirstType { get; init; }
    public string? RecordTypes { get; init; }
    public string? Syscall { get; init; }
    public bool? Success { get; init; }
    public long? Exit { get; init; }
    public long? Pid { get; init; }
    public long? Uid { get; init; }
    public long? Auid { get; init; }
    public long? Euid { get; init; }
    /// <summary>The account names of uid, auid and euid, when the agent resolved them (Interpretation:ResolveNames).</summary>
    public string? UidName { get; init; }
    public string? AuidName { get; init; }
    public string? EuidName { get; init; }
    public string? Key { get; init; }
    public string? Exe { get; init; }
    public string? Comm { get; init; }
    public string? Argv { get; init; }
    /// <summary>The agent's process context of the event (from its exact copy), or null when it has none.</summary>
    public Sluice.Protocol.V1.ProcessContext? Context { get; init; }
    public required EventCursor Cursor { get; init; }
}

/// <summary>A page of <see cref="EventHit"/>s, and the cursor of the next page if there is more.</summary>
internal sealed record EventPage(IReadOnlyList<EventHit> Events, EventCursor? Next);
