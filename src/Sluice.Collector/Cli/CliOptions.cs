using System.CommandLine;
using System.Globalization;
using Sluice.Collector.Storage;

namespace Sluice.Collector.Cli;

/// <summary>Options and argument parsing shared by the verbs.</summary>
internal static class CliOptions
{
    public static Option<string> Store() => new("--store")
    {
        Description = "Where events are kept: sqlite:PATH or postgres:CONNSTRING (e.g. postgres:Host=db;Database=sluice;Username=sluice).",
        Required = true,
    };

    /// <summary>ISO 8601 (UTC unless an offset is given), unix seconds (SEC or SEC.MSEC as in audit records), or "now".</summary>
    public static long ParseTime(string value, string option)
    {
        if (value.Equals("now", StringComparison.OrdinalIgnoreCase))
        {
            return DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        }
        if (decimal.TryParse(value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var seconds))
        {
            return (long)(seconds * 1000m);
        }
        if (DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t))
        {
            return t.ToUnixTimeMilliseconds();
        }
        throw new FormatException($"{option} '{value}': expected an ISO 8601 time (2026-11-25T10:00:00Z), unix seconds, or 'now'");
    }

    public static async Task<IEventStore> OpenExistingAsync(string store, CancellationToken ct) =>
        await StoreLocation.Parse(store).OpenAsync(mustExist: true, ct);
}
