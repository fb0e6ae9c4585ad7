using System.CommandLine;
using Sluice.Collector.Export;
using Sluice.Collector.Storage;

namespace Sluice.Collector.Cli;

/// <summary><c>sluice-collector export</c>: stored events as JSON Lines, in the replay format or as OCSF objects.</summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var store = CliOptions.Store();
        var agent = new Option<string?>("--agent") { Description = "Only this agent id." };
        var from = new Option<string?>("--from") { Description = "Events at or after this time (ISO 8601, unix seconds, or now)." };
        var to = new Option<string?>("--to") { Description = "Events before this time." };
        var format = new Option<string>("--format")
        {
            Description = "replay: the replay JSON with agent_id, hostname and batch_sequence added; ocsf: one OCSF 1.8.0 object per event (raw records in raw_data).",
            DefaultValueFactory = _ => "replay",
        };
        var output = new Option<string?>("--out") { Description = "Write to this file instead of stdout." };
        var parentExe = new Option<string?>("--parent-exe") { Description = "Only events whose parent (from the agent's process context) ran this exe: a whole path, or a program name without '/'." };
        var container = new Option<string?>("--container") { Description = "Only events in this container: its id, or at least 12 hex digits of it." };
        var unit = new Option<string?>("--unit") { Description = "Only events of this systemd unit or scope, e.g. ssh.service." };
        var command = new Command("export", "Write stored events as JSON Lines, oldest first: in the replay format (the default) or as OCSF objects.");
        foreach (var o in new Option[] { store, agent, from, to, format, output, parentExe, container, unit })
        {
            command.Options.Add(o);
        }
        command.SetAction((parse, ct) => RunAsync(
            parse.GetValue(store)!, parse.GetValue(agent), parse.GetValue(from), parse.GetValue(to), parse.GetValue(output), Console.Error, ct, parse.GetValue(format)!,
            new ExportFilters(parse.GetValue(parentExe), parse.GetValue(container), parse.GetValue(unit))));
        return command;
    }

    internal static async Task<int> RunAsync(string storeSpec, string? agent, string? from, string? to, string? outPath, TextWriter stderr, CancellationToken ct,
        string format = "replay", ExportFilters? filters = null)
    {
        EventQuery query;
        ExportFormat exportFormat;
        try
        {
            // checked before the store is opened or the output created: a bad value is an argument error
            exportFormat = EventExporter.ParseFormat(format);
            query = new EventQuery(
                agent,
                from is null ? null : CliOptions.ParseTime(from, "--from"),
                to is null ? null : CliOptions.ParseTime(to, "--to"))
            {
                Context = new ContextFilter(filters?.ParentExe, ContextFilter.ParseContainer(filters?.Container, "--container"), filters?.Unit),
            };
        }
        catch (FormatException e)
        {
            stderr.WriteLine($"sluice-collector export: {e.Message}");
            return 2;
        }
        try
        {
            await using var store = await CliOptions.OpenExistingAsync(storeSpec, ct);
            await using Stream output = outPath is null ? Console.OpenStandardOutput() : File.Create(outPath);
            long n = await EventExporter.ExportAsync(store, query, output, ct, exportFormat);
            stderr.WriteLine($"sluice-collector export: {n} events");
            return 0;
        }
        catch (Exception e) when (e is FormatException or IOException or UnauthorizedAccessException or Npgsql.NpgsqlException or Microsoft.Data.Sqlite.SqliteException or InvalidOperationException)
        {
            stderr.WriteLine($"sluice-collector export: {e.Message}");
            return e is FormatException ? 2 : 1;
        }
    }
}

/// <summary>The process-context filters of <c>export</c> as given: <c>--parent-exe</c>, <c>--container</c>, <c>--unit</c>.</summary>
internal sealed record ExportFilters(string? ParentExe = null, string? Container = null, string? Unit = null);
