using System.CommandLine;
using Sluice.Collector.Reports;
using Sluice.Collector.Storage;

namespace Sluice.Collector.Cli;

/// <summary><c>sluice-collector report</c>: the compliance report over a time range, from the store.</summary>
internal static class ReportCommand
{
    public static Command Create()
    {
        var store = CliOptions.Store();
        var from = new Option<string>("--from") { Description = "Start of the range, inclusive (ISO 8601, UTC unless an offset is given; unix seconds; or now).", Required = true };
        var to = new Option<string>("--to") { Description = "End of the range, exclusive.", Required = true };
        var agent = new Option<string?>("--agent") { Description = "Only this agent id." };
        var format = new Option<string>("--format") { Description = "html, md, csv (one file per section, named after --out) or json.", DefaultValueFactory = _ => "html" };
        var output = new Option<string>("--out") { Description = "File to write (csv: the index file; the sections go beside it).", Required = true };
        var baseline = new Option<string?>("--baseline") { Description = "Rules file (auditctl syntax, e.g. config/audit.rules) to check each host's rules in force against." };
        var silence = new Option<int?>("--max-silence") { Description = "Seconds without a heartbeat or batch after which an agent counts as disconnected (default 180)." };
        var maxRows = new Option<int?>("--max-rows") { Description = "Detail rows per section at most (default 500; counts always include everything)." };
        var command = new Command("report", "Compliance report: coverage per host (connected intervals, loss, rules, verdict), privileged activity, identity and authentication, access failures, audit-system changes, baseline check.");
        foreach (var o in new Option[] { store, from, to, agent, format, output, baseline, silence, maxRows })
        {
            command.Options.Add(o);
        }
        command.SetAction((parse, ct) => RunAsync(
            parse.GetValue(store)!, parse.GetValue(from)!, parse.GetValue(to)!, parse.GetValue(agent), parse.GetValue(format)!, parse.GetValue(output)!,
            parse.GetValue(baseline), parse.GetValue(silence), parse.GetValue(maxRows), Console.Error, ct));
        return command;
    }

    internal static async Task<int> RunAsync(string storeSpec, string from, string to, string? agent, string format, string outPath,
        string? baseline, int? maxSilenceSeconds, int? maxRows, TextWriter stderr, CancellationToken ct, TimeProvider? time = null)
    {
        ReportRequest request;
        ReportFormat fmt;
        try
        {
            fmt = ReportWriter.ParseFormat(format);
            request = new ReportRequest(CliOptions.ParseTime(from, "--from"), CliOptions.ParseTime(to, "--to"), agent, baseline);
            if (maxSilenceSeconds is int s) request = request with { MaxSilenceMs = s * 1000L };
            if (maxRows is int m) request = request with { MaxRows = m };
            request.Validate();
            if (baseline is not null)
            {
                // Checked before the store is opened: a bad baseline is an argument error.
                _ = BaselineRules.Load(baseline);
            }
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            stderr.WriteLine($"sluice-collector report: {e.Message}");
            return 2;
        }
        try
        {
            await using var store = await CliOptions.OpenExistingAsync(storeSpec, ct);
            var report = await new ReportBuilder(store, time).BuildAsync(request, ct);
            var files = await ReportWriter.WriteAsync(report, fmt, outPath, ct);
            int complete = report.Coverage.Count(h => h.Complete);
            stderr.WriteLine($"sluice-collector report: {report.Coverage.Count} hosts, {complete} continuous and complete; wrote {string.Join(", ", files)}");
            return 0;
        }
        catch (ArgumentException e)
        {
            stderr.WriteLine($"sluice-collector report: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is FormatException or IOException or UnauthorizedAccessException or Npgsql.NpgsqlException or Microsoft.Data.Sqlite.SqliteException or InvalidOperationException)
        {
            stderr.WriteLine($"sluice-collector report: {e.Message}");
            return e is FormatException ? 2 : 1;
        }
    }
}
