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

    /// <summary>The environment variable that names the token file when --tokens is not given.</summary>
    public const string TokensVariable = "SLUICE_COLLECTOR_TOKENS";

    /// <summary>The token file of a packaged install (deploy/install.sh, the Debian package): where --tokens defaults to.</summary>
    public const string DefaultTokensPath = "/etc/sluice/collector.tokens";

    /// <summary>The token file <c>serve</c> and <c>agents</c> use without --tokens: ${TokensVariable}, else <see cref="DefaultTokensPath"/>.</summary>
    public static string DefaultTokensFile() =>
        Environment.GetEnvironmentVariable(TokensVariable) is { Length: > 0 } path ? path : DefaultTokensPath;

    /// <summary>--tokens FILE, defaulting to <see cref="DefaultTokensFile"/>.</summary>
    public static Option<string?> Tokens() => new("--tokens")
    {
        Description = $"Token file of enrolled agents. Default: ${TokensVariable}, else {DefaultTokensPath}.",
    };

    /// <summary>--store, or $SLUICE_COLLECTOR_STORE when it is not given (as serve takes it), for verbs an operator runs on a packaged install.</summary>
    public static Option<string?> StoreOrEnvironment()
    {
        var store = new Option<string?>("--store")
        {
            Description = $"Where events are kept: sqlite:PATH or postgres:CONNSTRING. Default: ${ServeCommand.StoreVariable}, as serve takes it.",
        };
        return store;
    }

    /// <summary>The --store value, or $SLUICE_COLLECTOR_STORE.</summary>
    /// <exception cref="FormatException">Neither is given.</exception>
    public static string StoreValue(string? option) =>
        option ?? (Environment.GetEnvironmentVariable(ServeCommand.StoreVariable) is { Length: > 0 } value
            ? value
            : throw new FormatException($"--store is required (or the store in ${ServeCommand.StoreVariable})"));

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
