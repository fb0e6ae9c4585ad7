using System.Globalization;

namespace Sluice.Collector.Reports;

/// <summary>Times in reports: unix milliseconds, shown as ISO 8601 UTC.</summary>
internal static class ReportTime
{
    public const long HourMs = 3_600_000;

    public static string Iso(long unixMs) =>
        DateTimeOffset.FromUnixTimeMilliseconds(unixMs).ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);

    /// <summary>Short form for text: seconds, and milliseconds only when not zero.</summary>
    public static string Short(long unixMs)
    {
        var t = DateTimeOffset.FromUnixTimeMilliseconds(unixMs);
        return t.ToString(unixMs % 1000 == 0 ? "yyyy-MM-dd HH:mm:ss" : "yyyy-MM-dd HH:mm:ss.fff", CultureInfo.InvariantCulture);
    }

    /// <summary>"2h 5m 3s" for a duration.</summary>
    public static string Duration(long ms)
    {
        if (ms < 1000)
        {
            return ms.ToString(CultureInfo.InvariantCulture) + "ms";
        }
        long s = ms / 1000;
        var parts = new List<string>(4);
        if (s >= 86400) { parts.Add($"{s / 86400}d"); s %= 86400; }
        if (s >= 3600) { parts.Add($"{s / 3600}h"); s %= 3600; }
        if (s >= 60) { parts.Add($"{s / 60}m"); s %= 60; }
        if (s > 0 || parts.Count == 0) { parts.Add($"{s}s"); }
        return string.Join(' ', parts);
    }

    /// <summary>A login uid as shown: "unset" for 4294967295, "-" when absent.</summary>
    public static string User(long? id) => id switch
    {
        null => "-",
        4294967295 or -1 => "unset",
        long v => v.ToString(CultureInfo.InvariantCulture),
    };
}
