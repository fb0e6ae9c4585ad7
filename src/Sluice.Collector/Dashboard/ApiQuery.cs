using System.Globalization;
using Microsoft.AspNetCore.Http;
using Sluice.Collector.Cli;
using Sluice.Collector.Ingest;
using Sluice.Collector.Storage;

namespace Sluice.Collector.Dashboard;

/// <summary>Reads an API request's query parameters; each bad one is a 400 naming it.</summary>
internal sealed class ApiQuery
{
    /// <summary>The range when none is given: the last 24 hours.</summary>
    public static readonly TimeSpan DefaultRange = TimeSpan.FromHours(24);

    /// <summary>The widest range one request may ask for.</summary>
    public static readonly TimeSpan MaxRange = TimeSpan.FromDays(400);

    private const int MaxTextLength = 4096;
    private readonly IQueryCollection _query;

    private ApiQuery(IQueryCollection query) => _query = query;

    /// <summary>Refuses parameters the endpoint does not know, and repeated ones, before anything is read.</summary>
    public static ApiQuery From(HttpRequest request, params string[] allowed)
    {
        foreach (var (name, values) in request.Query)
        {
            if (!allowed.Contains(name, StringComparer.Ordinal))
            {
                throw ApiException.BadParameter(name, $"unknown parameter; this endpoint takes {string.Join(", ", allowed)}");
            }
            if (values.Count > 1)
            {
                throw ApiException.BadParameter(name, "given more than once");
            }
        }
        return new ApiQuery(request.Query);
    }

    private string? Raw(string name)
    {
        string? v = _query.TryGetValue(name, out var values) ? values.ToString() : null;
        return string.IsNullOrEmpty(v) ? null : v;
    }

    /// <summary>from and to: ISO 8601 (UTC unless it has an offset), unix seconds, or 'now'; to defaults to now, from to a day before to.</summary>
    public (long From, long To) Range(TimeProvider time)
    {
        long to = Raw("to") is string t ? Time(t, "to") : time.GetUtcNow().ToUnixTimeMilliseconds();
        long from = Raw("from") is string f ? Time(f, "from") : to - (long)DefaultRange.TotalMilliseconds;
        if (to <= from)
        {
            throw ApiException.BadParameter("to", $"must be after from ({Iso(from)}), got {Iso(to)}");
        }
        if (to - from > (long)MaxRange.TotalMilliseconds)
        {
            throw ApiException.BadParameter("from", $"the range from {Iso(from)} to {Iso(to)} is longer than {MaxRange.TotalDays:0} days");
        }
        return (from, to);
    }

    /// <summary>Whether the range ends now: no <c>to</c>, or <c>to=now</c>.</summary>
    public bool EndsNow => Raw("to") is not string t || t.Equals("now", StringComparison.OrdinalIgnoreCase);

    /// <summary>Whether the parameter is given (and not empty).</summary>
    public bool Has(string name) => Raw(name) is not null;

    private static long Time(string value, string name)
    {
        try
        {
            long ms = CliOptions.ParseTime(value, name);
            DateTimeOffset.FromUnixTimeMilliseconds(ms); // throws outside years 1-9999
            return ms;
        }
        catch (Exception e) when (e is FormatException or ArgumentOutOfRangeException or OverflowException)
        {
            throw ApiException.BadParameter(name, $"'{value}' is not a time: expected ISO 8601 (2026-11-25T10:00:00Z), unix seconds, or 'now'");
        }
    }

    public string? Agent()
    {
        string? agent = Raw("agent");
        if (agent is not null && !BatchValidator.IsValidAgentId(agent))
        {
            throw ApiException.BadParameter("agent", $"'{Clip(agent)}' is not an agent id (1-128 characters of A-Z a-z 0-9 . _ : -)");
        }
        return agent;
    }

    public string? Text(string name)
    {
        string? v = Raw(name);
        if (v is not null && v.Length > MaxTextLength)
        {
            throw ApiException.BadParameter(name, $"longer than {MaxTextLength} characters");
        }
        return v;
    }

    /// <summary>A container id, or a prefix of at least 12 hex digits (<see cref="ContextFilter.ParseContainer"/>).</summary>
    public string? Container()
    {
        string? v = Text("container");
        try
        {
            return ContextFilter.ParseContainer(v, "container");
        }
        catch (FormatException e)
        {
            throw ApiException.BadParameter("container", e.Message["container: ".Length..]);
        }
    }

    /// <summary>A uid or login uid: a number from 0 to 4294967295, or 'unset' (4294967295, the auid of processes no one logged in to).</summary>
    public long? User()
    {
        string? v = Raw("user");
        if (v is null)
        {
            return null;
        }
        if (v.Equals("unset", StringComparison.OrdinalIgnoreCase) || v == "-1")
        {
            return uint.MaxValue;
        }
        if (uint.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out uint id))
        {
            return id;
        }
        throw ApiException.BadParameter("user", $"'{Clip(v)}' is not a uid: give a number from 0 to 4294967295 or 'unset' (the collector stores numeric ids, not user names)");
    }

    public int Limit(int defaultLimit, int max)
    {
        string? v = Raw("limit");
        if (v is null)
        {
            return defaultLimit;
        }
        if (!int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < 1 || n > max)
        {
            throw ApiException.BadParameter("limit", $"'{Clip(v)}' is not a number from 1 to {max}");
        }
        return n;
    }

    public EventCursor? Before()
    {
        string? v = Raw("before");
        if (v is null)
        {
            return null;
        }
        return EventCursor.TryParse(v, out var cursor)
            ? cursor
            : throw ApiException.BadParameter("before", $"'{Clip(v)}' is not a cursor: pass the 'next' value of the previous page");
    }

    public static string Iso(long unixMs) =>
        DateTimeOffset.FromUnixTimeMilliseconds(unixMs).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private static string Clip(string s) => s.Length <= 64 ? s : s[..64] + "…";
}
