using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sluice.Collector.Reports;
using Sluice.Collector.Storage;

namespace Sluice.Collector.Dashboard;

/// <summary>
/// The range a fleet view covers, as requests name it: <see cref="To"/> null for a range that ends now (no <c>to</c>, or
/// <c>to=now</c>), and then <see cref="From"/> null for the default day before it. Requests that name the same range
/// share one view, whenever they arrive; a range ending now is resolved when its view is built.
/// </summary>
internal readonly record struct FleetRange(long? From, long? To)
{
    /// <summary>The range to build now: a range that ends now ends at <paramref name="nowUnixMs"/>.</summary>
    public (long From, long To) Resolve(long nowUnixMs)
    {
        long to = To ?? nowUnixMs;
        return (From ?? to - (long)ApiQuery.DefaultRange.TotalMilliseconds, to);
    }
}

/// <summary>
/// The fleet views of <c>GET /api/fleet</c>: one build at a time per range, shared by every request that asks for it
/// meanwhile, and a view built less than <see cref="MaxAge"/> ago served at once while a newer one is built.
/// </summary>
/// <remarks>
/// A fleet view reads every host's coverage from the store: about 0.9 s for 10,000 agents on a quiet machine, 4.8 s
/// (median) to 9.5 s while the same two cores stored that fleet's batches. Each dashboard tab and poller started its own build, and each
/// build slowed the others and ingest with them. Here a range has at most one build running; requests that find one
/// wait for it instead of starting another. A request that finds a view younger than <see cref="MaxAge"/> gets it at
/// once, with its age (<c>age_ms</c>, from <c>generated_at</c>); once that view's build ended <see cref="RefreshAfter"/> ago
/// (or as long ago as it took, if longer) the request also starts one build in the background, so the next request finds a newer one. Nothing older than
/// <see cref="MaxAge"/> is served: such a request waits for a build. A failed build is not kept: its waiters get its
/// error, and the next request builds again.
/// <para>
/// A build runs under the cache's own token, never a request's: a client that gives up stops waiting, and the others
/// still get the view. It is bounded by <see cref="BuildTimeout"/>, and stopped when the collector stops.
/// </para>
/// <para>
/// At most <see cref="MaxRanges"/> ranges are held (more only while they all build), the least recently asked for
/// dropped first; a view past <see cref="MaxAge"/> is dropped when any range is next asked for, as it can never be
/// served (a view holds a row per host).
/// </para>
/// </remarks>
internal sealed class FleetViewCache : IDisposable
{
    /// <summary>How old a served view may be (<c>serve --fleet-view-max-age</c>); zero serves none, and every request waits for a build.</summary>
    /// <remarks>
    /// 30 s: under a 10,000-agent load a build took up to about 5 s, and the next one starts as long after it ended as it
    /// took, so views were up to 15 s old when the next was ready; with 15 s a poll then waited for a build (5.6 s once).
    /// </remarks>
    public static readonly TimeSpan DefaultMaxAge = TimeSpan.FromSeconds(30);

    /// <summary>The largest <c>--fleet-view-max-age</c>: a view an hour old is as far as "as of" stays useful.</summary>
    public static readonly TimeSpan MaxMaxAge = TimeSpan.FromHours(1);

    /// <summary>
    /// A view served this long after its build ended, or as long as that build took if longer, starts a build in the
    /// background. Counted from the build's end, not its start: under ingest load a build takes longer than this, and a
    /// range asked for often was rebuilt one build after another, a build always running beside ingest. So builds take at
    /// most about half the time.
    /// </summary>
    public static readonly TimeSpan RefreshAfter = TimeSpan.FromSeconds(2);

    /// <summary>The longest a build may take; past it its waiters get a 503 and the next request tries again.</summary>
    public static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(2);

    /// <summary>Ranges held at once (the dashboard's presets, a few past ranges looked at in turn).</summary>
    public const int MaxRanges = 16;

    private readonly IEventStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Dictionary<FleetRange, Entry> _entries = [];
    private long _uses;
    private long _builds;
    private int _waiting;

    public FleetViewCache(IEventStore store, TimeProvider time, TimeSpan maxAge, ILogger<FleetViewCache>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxAge, TimeSpan.Zero);
        _store = store;
        _time = time;
        MaxAge = maxAge;
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    public TimeSpan MaxAge { get; }

    /// <summary>Builds started, in the background or for waiting requests.</summary>
    public long Builds => Interlocked.Read(ref _builds);

    /// <summary>Requests waiting for a build now.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>The view of <paramref name="range"/>: a recent one at once, else the one being built (started if none is).</summary>
    /// <param name="cancellationToken">Stops this request's wait, not the build.</param>
    public async Task<FleetView> GetAsync(FleetRange range, CancellationToken cancellationToken)
    {
        var (built, age) = await GetBuiltAsync(range, cancellationToken);
        return built.View with { AgeMs = age };
    }

    /// <summary>The view of <paramref name="range"/> as <see cref="GetAsync"/> gives it, as the JSON answer: serialised once per build, not per request.</summary>
    public async Task<FleetViewJson> GetJsonAsync(FleetRange range, CancellationToken cancellationToken)
    {
        var (built, age) = await GetBuiltAsync(range, cancellationToken);
        return new FleetViewJson(built.Json, age);
    }

    private async Task<(Built Built, long AgeMs)> GetBuiltAsync(FleetRange range, CancellationToken cancellationToken)
    {
        Task<Built> building;
        lock (_entries)
        {
            long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
            var entry = Find(range, now);
            if (entry.Last is { } last && now - last.GeneratedAtUnixMs < MaxAge.TotalMilliseconds)
            {
                long age = now - last.GeneratedAtUnixMs;
                if (now - last.FinishedAtUnixMs >= Math.Max(RefreshAfter.TotalMilliseconds, last.FinishedAtUnixMs - last.GeneratedAtUnixMs)
                    && entry.Running is null)
                {
                    Start(range, entry);
                }
                return (last, age);
            }
            building = entry.Running ?? Start(range, entry);
        }
        Interlocked.Increment(ref _waiting);
        try
        {
            // Built while this request waited: as new as any view can be.
            return (await building.WaitAsync(cancellationToken), 0);
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }
    }

    /// <summary>The range's entry, made if need be; entries that can serve nothing and build nothing are dropped first.</summary>
    private Entry Find(FleetRange range, long now)
    {
        foreach (var (key, e) in _entries)
        {
            if (e.Running is null && (e.Last is null || now - e.Last.GeneratedAtUnixMs >= MaxAge.TotalMilliseconds) && key != range)
            {
                _entries.Remove(key);
            }
        }
        if (!_entries.TryGetValue(range, out var entry))
        {
            // The least recently asked for of those not building: dropping one that builds would let a second build of
            // its range start beside it. With every range building, the map holds one more until they are done.
            if (_entries.Count >= MaxRanges && _entries.Where(kv => kv.Value.Running is null).MinBy(kv => kv.Value.LastUse) is { Value: not null } oldest)
            {
                _entries.Remove(oldest.Key);
            }
            entry = _entries[range] = new Entry();
        }
        entry.LastUse = ++_uses;
        return entry;
    }

    /// <summary>Starts the range's build; called under the lock, with none running.</summary>
    private Task<Built> Start(FleetRange range, Entry entry)
    {
        var done = new TaskCompletionSource<Built>(TaskCreationOptions.RunContinuationsAsynchronously);
        entry.Running = done.Task;
        Interlocked.Increment(ref _builds);
        // On the thread pool: neither on the request's thread nor under the lock.
        _ = Task.Run(() => BuildAsync(range, entry, done));
        return done.Task;
    }

    private async Task BuildAsync(FleetRange range, Entry entry, TaskCompletionSource<Built> done)
    {
        try
        {
            var built = await BuildViewAsync(range);
            lock (_entries)
            {
                entry.Running = null;
                if (entry.Last is null || built.GeneratedAtUnixMs >= entry.Last.GeneratedAtUnixMs)
                {
                    entry.Last = built;
                }
            }
            done.SetResult(built);
        }
        catch (Exception e)
        {
            // Nothing kept: the entry is free before the waiters hear of it, so whoever comes next builds again.
            lock (_entries)
            {
                entry.Running = null;
            }
            if (e is not ApiException && !_stopping.IsCancellationRequested)
            {
                _logger.LogWarning(e, "fleet view {From}..{To}: the build failed", range.From, range.To);
            }
            done.SetException(e);
            // A background build may have no waiter: its error is logged above, not left unobserved.
            _ = done.Task.Exception;
        }
    }

    private async Task<Built> BuildViewAsync(FleetRange range)
    {
        using var timeout = new CancellationTokenSource(BuildTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, _stopping.Token);
        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var (from, to) = range.Resolve(now);
        try
        {
            var report = await new ReportBuilder(_store, _time).BuildAsync(
                new ReportRequest(from, to, AgentId: null, BaselineRulesPath: null) { CoverageOnly = true }, linked.Token);
            var view = FleetView.Of(report);
            // Serialised here, once, on the build's thread: a view of 10,000 hosts is megabytes of JSON, and serialising it
            // for every request took hundreds of milliseconds each under ingest load (up to 2.3 s for one poll).
            return new Built(view, FleetViewJson.Split(view), report.GeneratedAtUnixMs, _time.GetUtcNow().ToUnixTimeMilliseconds());
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !_stopping.IsCancellationRequested)
        {
            throw new ApiException(StatusCodes.Status503ServiceUnavailable,
                $"the fleet view took longer than {BuildTimeout.TotalMinutes:0} minutes to build; try again");
        }
    }

    /// <summary>Stops the builds in flight when the collector stops (the token source is left undisposed: a late request may still start one).</summary>
    public void Dispose() => _stopping.Cancel();

    /// <summary>A view, its JSON, when its build started (its <c>generated_at</c>) and when it ended.</summary>
    private sealed record Built(FleetView View, FleetViewJson.Parts Json, long GeneratedAtUnixMs, long FinishedAtUnixMs);

    private sealed class Entry
    {
        /// <summary>The newest view built, never a failure.</summary>
        public Built? Last { get; set; }

        /// <summary>The build in flight, if any: at most one.</summary>
        public Task<Built>? Running { get; set; }

        public long LastUse { get; set; }
    }
}
