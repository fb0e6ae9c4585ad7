namespace Sluice.Collector.Storage.Retention;

/// <summary>What a store does for retention: prune old days, say what it keeps, and whether it upgraded its schema when opened.</summary>
/// <remarks>Both stores implement it; <c>prune</c>, <c>stats</c> and the report reach it through the store they opened.</remarks>
internal interface IRetentionStore
{
    /// <summary>The schema version the store had before it was upgraded as it was opened, or null.</summary>
    long? UpgradedFrom { get; }

    /// <summary>
    /// Deletes what lies before <see cref="PruneRequest.CutoffUnixMs"/>, day by day, and records the prune in <c>prunes</c>
    /// (unless <see cref="PruneRequest.DryRun"/>, which only lists what would go).
    /// </summary>
    /// <exception cref="InvalidOperationException">Another prune of the same store is running.</exception>
    Task<PruneResult> PruneAsync(PruneRequest request, Action<string> progress, CancellationToken cancellationToken);

    /// <summary>The oldest and newest stored event time and the last prune.</summary>
    Task<RetainedRange> GetRetainedRangeAsync(CancellationToken cancellationToken);
}

/// <summary>What to prune: everything whose indexed event time is before <paramref name="CutoffUnixMs"/>.</summary>
/// <param name="OlderThanDays">What was asked (<c>--older-than</c>); recorded with the prune.</param>
/// <param name="CutoffUnixMs">The start of a UTC day (<see cref="Cutoff"/>).</param>
internal sealed record PruneRequest(int OlderThanDays, long CutoffUnixMs, bool DryRun)
{
    /// <summary>Where the prune ran and who ran it, for the record.</summary>
    public string Host { get; init; } = Environment.MachineName;

    public string User { get; init; } = Environment.UserName;

    /// <summary>
    /// How long one statement waits for a lock (PostgreSQL <c>lock_timeout</c>). Dropping a day partition needs the
    /// events table to itself for an instant: while it waits, writers queue behind it, so the wait is kept short and
    /// retried (<see cref="LockAttempts"/>) rather than long.
    /// </summary>
    public TimeSpan LockTimeout { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Tries per partition before it is skipped and reported (the next prune takes it).</summary>
    public int LockAttempts { get; init; } = 5;

    /// <summary>Rows deleted per transaction at most, so that a running collector's writes never wait long.</summary>
    public int MaxRowsPerTransaction { get; init; } = 10_000;

    /// <summary>The start of the UTC day <paramref name="days"/> days before <paramref name="now"/>'s.</summary>
    public static long Cutoff(DateTimeOffset now, int days) =>
        new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero).AddDays(-days).ToUnixTimeMilliseconds();
}

/// <summary>One UTC day a prune removed (or, in a dry run, would remove).</summary>
/// <param name="Name">The PostgreSQL partition, or the date for SQLite.</param>
/// <param name="Skipped">Why it was left in place (a lock not available in time), or null.</param>
internal sealed record PrunedDay(long DayUnixMs, string Name, long Events, string? Skipped = null);

/// <summary>What a prune did, or would do.</summary>
internal sealed record PruneResult
{
    public required long StartedUnixMs { get; init; }
    public long FinishedUnixMs { get; init; }
    public bool DryRun { get; init; }
    public IReadOnlyList<PrunedDay> Days { get; init; } = [];
    public long Events { get; init; }
    public long Batches { get; init; }
    public long EventChunks { get; init; }
    public long Heartbeats { get; init; }
    public long Refusals { get; init; }

    public long DaysRemoved => Days.Count(d => d.Skipped is null);

    public long DaysSkipped => Days.Count(d => d.Skipped is not null);

    /// <summary>"complete", or what was left for the next prune.</summary>
    public string Status => DaysSkipped == 0 ? "complete" : $"partial: {DaysSkipped} days skipped (lock not available), the next prune takes them";
}

/// <summary>A recorded prune (a row of <c>prunes</c>).</summary>
internal sealed record PruneRecord(
    long StartedUnixMs, long FinishedUnixMs, string Host, string User, string Version, string Store, int OlderThanDays, long CutoffUnixMs,
    long Days, long DaysSkipped, long Events, long Batches, long EventChunks, long Heartbeats, long Refusals, string Status);

/// <summary>What the store keeps: its oldest and newest event time (null when it has none) and its last prune.</summary>
internal sealed record RetainedRange(long? OldestEventUnixMs, long? NewestEventUnixMs, PruneRecord? LastPrune);
