using Microsoft.Extensions.Logging;

namespace Sluice.Collector.Policy;

/// <summary>The central policies as the running collector answers heartbeats with them: in memory, refreshed from the store.</summary>
/// <remarks>
/// A heartbeat reads the table in memory. At most once per <see cref="RefreshInterval"/>, the call that finds it due
/// reads the groups' hashes (one small query, no texts) and fetches the texts of the groups whose hash changed only;
/// the other calls meanwhile answer with the table in hand. So a <c>policy set</c> by another process reaches the
/// running collector within one interval (and the next heartbeat of each agent), and a heartbeat costs no store read
/// of its own. A refresh that fails keeps the table in hand; it is logged and counted, and tried again next interval.
/// </remarks>
internal sealed class PolicyCache
{
    /// <summary>Two seconds: well below any heartbeat interval, a query every two seconds at most.</summary>
    public static readonly TimeSpan DefaultRefreshInterval = TimeSpan.FromSeconds(2);

    private readonly PolicyStore? _store;
    private readonly TimeProvider _time;
    private readonly ILogger? _logger;
    private readonly long _intervalTicks;
    private readonly SemaphoreSlim _refreshing = new(1, 1);
    private volatile IReadOnlyDictionary<string, GroupPolicy>? _policies;
    private long _nextRefresh;
    private long _refreshes;
    private long _refreshFailures;

    /// <param name="store">Null: a store that keeps no policies (a test's); every group then has none.</param>
    public PolicyCache(PolicyStore? store, TimeProvider time, TimeSpan refreshInterval, ILogger? logger = null)
    {
        _store = store;
        _time = time;
        _logger = logger;
        RefreshInterval = refreshInterval;
        _intervalTicks = (long)(refreshInterval.TotalSeconds * time.TimestampFrequency);
    }

    public TimeSpan RefreshInterval { get; }

    /// <summary>The refused policy hash last reported per agent, so that a refusal repeated in every heartbeat is logged once.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _refusals = new(StringComparer.Ordinal);

    /// <summary>True the first time <paramref name="agentId"/> reports refusing <paramref name="refusedHash"/> (since it last reported another, or none).</summary>
    public bool FirstReportOfRefusal(string agentId, string refusedHash)
    {
        if (refusedHash.Length == 0)
        {
            _refusals.TryRemove(agentId, out _);
            return false;
        }
        string previous = _refusals.GetValueOrDefault(agentId, "");
        _refusals[agentId] = refusedHash;
        return previous != refusedHash;
    }

    /// <summary>Refreshes that read the store.</summary>
    public long Refreshes => Interlocked.Read(ref _refreshes);

    /// <summary>Refreshes that failed (the table in hand was kept).</summary>
    public long RefreshFailures => Interlocked.Read(ref _refreshFailures);

    /// <summary>The policy of <paramref name="group"/>, or null when it has none.</summary>
    public async ValueTask<GroupPolicy?> GetAsync(string group, CancellationToken ct)
    {
        if (_store is null)
        {
            return null;
        }
        var policies = _policies;
        if (policies is null)
        {
            // The first call waits for the first read: answering "no policy" before it would tell nothing false
            // (the agent keeps what it has), but sending the policy at once is better.
            await _refreshing.WaitAsync(ct);
            try
            {
                if (_policies is null)
                {
                    await RefreshAsync(ct);
                }
            }
            finally
            {
                _refreshing.Release();
            }
        }
        else if (_time.GetTimestamp() >= Volatile.Read(ref _nextRefresh) && _refreshing.Wait(0, CancellationToken.None))
        {
            try
            {
                await RefreshAsync(ct);
            }
            finally
            {
                _refreshing.Release();
            }
        }
        return _policies?.GetValueOrDefault(group);
    }

    private async Task RefreshAsync(CancellationToken ct)
    {
        Volatile.Write(ref _nextRefresh, _time.GetTimestamp() + _intervalTicks);
        var current = _policies ?? new Dictionary<string, GroupPolicy>();
        try
        {
            var hashes = await _store!.GetHashesAsync(ct);
            var changed = hashes.Where(h => !current.TryGetValue(h.Key, out var p) || p.Hash != h.Value.Hash || p.SetUnixMs != h.Value.SetUnixMs)
                .Select(h => h.Key).ToList();
            var next = new Dictionary<string, GroupPolicy>(StringComparer.Ordinal);
            foreach (var (group, policy) in current)
            {
                if (hashes.ContainsKey(group) && !changed.Contains(group))
                {
                    next[group] = policy;
                }
            }
            foreach (var policy in await _store.GetPoliciesAsync(changed, ct))
            {
                next[policy.Group] = policy;
                if (_logger is not null && _policies is not null)
                {
                    PolicyLog.PolicyLoaded(_logger, policy.Group, PolicyStatus.Short(policy.Hash), policy.SetBy);
                }
            }
            _policies = next;
            Interlocked.Increment(ref _refreshes);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Interlocked.Increment(ref _refreshFailures);
            _policies ??= new Dictionary<string, GroupPolicy>();
            if (_logger is not null)
            {
                PolicyLog.RefreshFailed(_logger, e);
            }
        }
    }
}

internal static partial class PolicyLog
{
    [LoggerMessage(EventId = 170, Level = LogLevel.Information, Message = "Central policy of group {Group} is now {Hash} (set by {SetBy}); agents get it with their next heartbeat")]
    public static partial void PolicyLoaded(ILogger logger, string group, string hash, string setBy);

    [LoggerMessage(EventId = 171, Level = LogLevel.Error, Message = "Reading the central policies from the store failed; heartbeats are answered with the policies read before")]
    public static partial void RefreshFailed(ILogger logger, Exception error);

    [LoggerMessage(EventId = 172, Level = LogLevel.Warning, Message = "Agent {AgentId} (group {Group}) refused central policy {Hash} and keeps the one it had ({InForce}): {Reason}")]
    public static partial void Refused(ILogger logger, string agentId, string group, string hash, string inForce, string reason);

    [LoggerMessage(EventId = 173, Level = LogLevel.Warning, Message = "Agent {AgentId} reported a policy refusal of {Length} characters; stored cut to {Limit}")]
    public static partial void RefusalTruncated(ILogger logger, string agentId, int length, int limit);
}
