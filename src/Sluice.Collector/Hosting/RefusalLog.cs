using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Sluice.Collector.Hosting;

/// <summary>Logs refused ingest calls: at most one line per peer and reason per interval, and how many it left out.</summary>
/// <remarks>
/// Every refusal is counted in <c>/api/ingest</c>; the log is for finding who. A peer that sends
/// thousands of calls without a token must not turn that into thousands of lines, so the first
/// refusal of a (peer address, reason) is logged at once, and the ones after it within the interval
/// are only counted here. When the interval is over, one line says how many were left out; a peer
/// that keeps on gets one such line per interval. Keys that saw nothing for a whole interval are
/// forgotten. The table is bounded (<see cref="MaxPeers"/>): beyond it, new peers share the key
/// "other peers", so a flood from many addresses still yields one line per reason per interval.
/// </remarks>
internal sealed class RefusalLog : IDisposable
{
    /// <summary>Distinct (peer, reason) keys kept at once.</summary>
    internal const int MaxPeers = 4096;
    internal const string OtherPeers = "other peers";

    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly TimeSpan _interval;
    private readonly Dictionary<(string Peer, string Reason), Window> _windows = [];
    private readonly ITimer _timer;

    public RefusalLog(ILogger<RefusalLog> logger, TimeProvider time, TimeSpan interval)
    {
        if (interval <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(interval), interval, "must be positive");
        }
        _logger = logger;
        _time = time;
        _interval = interval;
        _timer = time.CreateTimer(_ => Flush(), null, interval, interval);
    }

    public TimeSpan Interval => _interval;

    /// <summary>The reasons, named as their counters in /api/ingest (refused_REASON).</summary>
    internal const string Unauthenticated = "unauthenticated";
    internal const string OverLimit = "over_limit";
    internal const string TooLarge = "too_large";

    /// <summary>A refusal made by the service on a call it was given; the reason follows from the status code.</summary>
    public void Refused(ServerCallContext context, string call, StatusCode code, string detail) =>
        Refused(PeerAddress(context.GetHttpContext()), ReasonFor(code), call, code, detail);

    /// <summary>The client's address without its port.</summary>
    internal static string PeerAddress(Microsoft.AspNetCore.Http.HttpContext context) =>
        context.Connection.RemoteIpAddress?.ToString() ?? "unknown";

    internal static string ReasonFor(StatusCode code) => code switch
    {
        StatusCode.Unauthenticated => Unauthenticated,
        StatusCode.PermissionDenied => "permission_denied",
        StatusCode.InvalidArgument => "invalid",
        _ => System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(code.ToString()),
    };

    /// <summary>Records one refusal; logs it unless its peer and reason were logged within the interval.</summary>
    /// <param name="peer">The client's address (no port: a new connection must not make a new key).</param>
    /// <param name="reason">The kind of refusal, as counted in /api/ingest: unauthenticated, over_limit, too_large, ...</param>
    /// <param name="call">The gRPC method.</param>
    public void Refused(string peer, string reason, string call, StatusCode code, string detail)
    {
        long now = _time.GetTimestamp();
        long suppressed;
        lock (_windows)
        {
            var key = (peer, reason);
            if (!_windows.TryGetValue(key, out var window) && _windows.Count >= MaxPeers)
            {
                ForgetQuiet(now);
                if (_windows.Count >= MaxPeers)
                {
                    key = (OtherPeers, reason);
                    _windows.TryGetValue(key, out window);
                }
            }
            if (window is not null && _time.GetElapsedTime(window.Start, now) < _interval)
            {
                window.Suppressed++;
                return;
            }
            suppressed = window?.Suppressed ?? 0;
            _windows[key] = new Window(now);
        }
        if (suppressed == 0)
        {
            RefusalLogMessages.Refused(_logger, call, peer, code, detail);
        }
        else
        {
            RefusalLogMessages.RefusedAfterSuppressed(_logger, call, peer, code, detail, suppressed, reason);
        }
    }

    /// <summary>Logs, per key whose interval is over, how many refusals were left out; forgets quiet keys.</summary>
    internal void Flush()
    {
        long now = _time.GetTimestamp();
        var lines = new List<(string Peer, string Reason, long Count)>();
        lock (_windows)
        {
            foreach (var (key, window) in _windows)
            {
                if (_time.GetElapsedTime(window.Start, now) < _interval)
                {
                    continue;
                }
                if (window.Suppressed > 0)
                {
                    lines.Add((key.Peer, key.Reason, window.Suppressed));
                    // A new interval starts with this line: the next refusal within it is counted, not logged.
                    window.Start = now;
                    window.Suppressed = 0;
                }
            }
            ForgetQuiet(now);
        }
        foreach (var (peer, reason, count) in lines)
        {
            RefusalLogMessages.Suppressed(_logger, count, reason, peer, (long)_interval.TotalSeconds);
        }
    }

    private void ForgetQuiet(long now)
    {
        foreach (var (key, window) in _windows)
        {
            if (window.Suppressed == 0 && _time.GetElapsedTime(window.Start, now) >= _interval)
            {
                _windows.Remove(key);
            }
        }
    }

    public void Dispose() => _timer.Dispose();

    private sealed class Window(long start)
    {
        public long Start = start;
        public long Suppressed;
    }
}

internal static partial class RefusalLogMessages
{
    [LoggerMessage(EventId = 150, Level = LogLevel.Warning, Message = "Refused {Call} from {Peer}: {Code} {Detail}")]
    public static partial void Refused(ILogger logger, string call, string peer, StatusCode code, string detail);

    [LoggerMessage(EventId = 151, Level = LogLevel.Warning, Message = "Refused {Call} from {Peer}: {Code} {Detail} (and {Suppressed} more {Reason} refusals from this peer before it, not logged one by one)")]
    public static partial void RefusedAfterSuppressed(ILogger logger, string call, string peer, StatusCode code, string detail, long suppressed, string reason);

    [LoggerMessage(EventId = 152, Level = LogLevel.Warning, Message = "{Suppressed} more {Reason} refusals from {Peer} in the last {Seconds} s, not logged one by one (all are counted in /api/ingest)")]
    public static partial void Suppressed(ILogger logger, long suppressed, string reason, string peer, long seconds);
}
