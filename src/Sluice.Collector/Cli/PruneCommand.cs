using System.CommandLine;
using System.Globalization;
using Sluice.Collector.Storage;
using Sluice.Collector.Storage.Retention;

namespace Sluice.Collector.Cli;

/// <summary><c>sluice-collector prune</c>: deletes the events (and what belongs only to them) older than a number of days.</summary>
internal static class PruneCommand
{
    /// <summary>
    /// Kept by default: more than the 12 months PCI DSS 10.5.1 asks for, and the age up to which <c>serve</c> indexes
    /// an event under its own time (<see cref="EventTimeBounds.MaxAge"/>): an older one is stored under its receive
    /// time, so a late event cannot land in a day already pruned.
    /// </summary>
    public const int DefaultDays = 400;

    /// <summary>Less than this needs <c>--allow-short-retention</c>: PCI DSS 10.5.1 keeps audit history for at least 12 months.</summary>
    public const int MinimumDays = 365;

    public static Command Create()
    {
        var store = CliOptions.StoreOrEnvironment();
        var olderThan = new Option<string?>("--older-than")
        {
            Description = $"Delete events older than this many days (whole UTC days; default {DefaultDays}). Below {MinimumDays} needs --allow-short-retention.",
        };
        var dryRun = new Option<bool>("--dry-run") { Description = "List what would be deleted, and change nothing." };
        var allowShort = new Option<bool>("--allow-short-retention")
        {
            Description = $"Allow --older-than below {MinimumDays} days, less than PCI DSS 10.5.1's 12 months of audit history.",
        };
        var command = new Command("prune", "Delete stored events older than a number of days, by whole UTC days, and record the prune in the store.");
        foreach (var o in new Option[] { store, olderThan, dryRun, allowShort })
        {
            command.Options.Add(o);
        }
        command.SetAction((parse, ct) => RunAsync(
            parse.GetValue(store), parse.GetValue(olderThan), parse.GetValue(dryRun), parse.GetValue(allowShort), Console.Out, Console.Error, ct));
        return command;
    }

    internal static async Task<int> RunAsync(string? storeOption, string? olderThan, bool dryRun, bool allowShort, TextWriter stdout, TextWriter stderr,
        CancellationToken ct, TimeProvider? time = null)
    {
        string spec;
        int days;
        try
        {
            spec = CliOptions.StoreValue(storeOption);
            StoreLocation.Parse(spec);
            days = ParseDays(olderThan, allowShort);
        }
        catch (FormatException e)
        {
            stderr.WriteLine($"sluice-collector prune: {e.Message}");
            return 2;
        }
        var now = (time ?? TimeProvider.System).GetUtcNow();
        var request = new PruneRequest(days, PruneRequest.Cutoff(now, days), dryRun);
        try
        {
            await using var store = await CliOptions.OpenExistingAsync(spec, ct);
            if (store is not IRetentionStore retention)
            {
                stderr.WriteLine($"sluice-collector prune: {StoreLocation.Parse(spec)} cannot be pruned");
                return 1;
            }
            stdout.WriteLine($"{(dryRun ? "dry run: would prune" : "pruning")} {StoreLocation.Parse(spec)}: events before {Iso(request.CutoffUnixMs)} (older than {days} days)");
            var result = await retention.PruneAsync(request, line => stdout.WriteLine("  " + line), ct);
            stdout.WriteLine(Summary(result, StoreLocation.Parse(spec).Kind));
            if (result.DaysSkipped > 0)
            {
                stderr.WriteLine($"sluice-collector prune: {result.Status}");
                return 1;
            }
            return 0;
        }
        catch (Exception e) when (e is FormatException or IOException or Npgsql.NpgsqlException or Microsoft.Data.Sqlite.SqliteException or InvalidOperationException)
        {
            stderr.WriteLine($"sluice-collector prune: {e.Message}");
            return e is FormatException ? 2 : 1;
        }
    }

    /// <summary>--older-than: a whole number of days, at least <see cref="MinimumDays"/> unless allowed.</summary>
    internal static int ParseDays(string? value, bool allowShort)
    {
        if (value is null)
        {
            return DefaultDays;
        }
        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int days) || days <= 0 || days > 100_000)
        {
            throw new FormatException($"--older-than '{value}': expected a positive whole number of days");
        }
        if (days < MinimumDays && !allowShort)
        {
            throw new FormatException(
                $"--older-than {days}: less than {MinimumDays} days keeps less than the 12 months of audit history PCI DSS 10.5.1 requires; " +
                "give --allow-short-retention to prune anyway");
        }
        return days;
    }

    private static string Summary(PruneResult r, StoreKind kind)
    {
        string verb = r.DryRun ? "would remove" : "removed";
        string unit = kind == StoreKind.Postgres ? "day partitions" : "days";
        string text = $"{verb} {r.DaysRemoved} {unit}, {r.Events} events; " +
            (r.DryRun
                ? $"{r.Batches} batches whose interval starts before the cutoff (those none of whose events are kept go), {r.Heartbeats} heartbeats, {r.Refusals} refusals"
                : $"{r.Batches} batches, {r.EventChunks} event chunks, {r.Heartbeats} heartbeats, {r.Refusals} refusals") +
            string.Create(CultureInfo.InvariantCulture, $" in {(r.FinishedUnixMs - r.StartedUnixMs) / 1000.0:0.0} s") +
            (r.DaysSkipped > 0 ? $"; {r.DaysSkipped} skipped" : "") +
            (r.DryRun ? "; nothing changed, nothing recorded" : "; recorded in the store's prunes");
        if (kind == StoreKind.Sqlite && !r.DryRun)
        {
            text += "\nThe SQLite file does not shrink: its freed pages are reused by new events. VACUUM, with the collector stopped, returns them to the file system.";
        }
        return text;
    }

    private static string Iso(long unixMs) =>
        DateTimeOffset.FromUnixTimeMilliseconds(unixMs).ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);
}
