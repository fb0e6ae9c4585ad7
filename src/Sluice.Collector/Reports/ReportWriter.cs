namespace Sluice.Collector.Reports;

/// <summary>Report output formats.</summary>
internal enum ReportFormat
{
    Html,
    Md,
    Csv,
    Json,
}

/// <summary>Writes a report in a format to a path (csv: several files, see <see cref="ReportCsv"/>).</summary>
internal static class ReportWriter
{
    public static ReportFormat ParseFormat(string value) => value.ToLowerInvariant() switch
    {
        "html" => ReportFormat.Html,
        "md" or "markdown" => ReportFormat.Md,
        "csv" => ReportFormat.Csv,
        "json" => ReportFormat.Json,
        _ => throw new FormatException($"--format '{value}': expected html, md, csv or json"),
    };

    /// <summary>The files written, in order.</summary>
    public static async Task<IReadOnlyList<string>> WriteAsync(ComplianceReport report, ReportFormat format, string outPath, CancellationToken ct)
    {
        IReadOnlyList<(string Path, string Content)> files = format switch
        {
            ReportFormat.Html => [(outPath, ReportHtml.Render(report))],
            ReportFormat.Md => [(outPath, ReportMarkdown.Render(report))],
            ReportFormat.Json => [(outPath, ReportJson.Serialize(report))],
            _ => ReportCsv.Render(report, outPath),
        };
        foreach (var (path, content) in files)
        {
            // Write aside and rename: a failed run never leaves half a report under the name asked for.
            string temp = path + ".tmp";
            await File.WriteAllTextAsync(temp, content, new System.Text.UTF8Encoding(false), ct);
            File.Move(temp, path, overwrite: true);
        }
        return [.. files.Select(f => f.Path)];
    }
}
