using System.Text;

namespace Sluice.Collector.Reports;

/// <summary>
/// The <c>csv</c> format: one RFC 4180 file per section table, named after the <c>--out</c> path with the
/// table's name added (report.csv gives report.coverage.csv, report.intervals.csv, ...). Each file has a
/// header row; the range and generation time are in report.csv itself, which lists the other files.
/// </summary>
internal static class ReportCsv
{
    /// <summary>The files to write: (path, content), the index first.</summary>
    public static IReadOnlyList<(string Path, string Content)> Render(ComplianceReport r, string outPath)
    {
        string dir = Path.GetDirectoryName(outPath) ?? "";
        string stem = Path.GetFileNameWithoutExtension(outPath);
        var files = new List<(string, string)>();
        var index = new StringBuilder();
        Row(index, ["from", "to", "time_zone", "generated_at", "agent", "table", "file", "rows"]);
        foreach (var t in ReportTables.All(r))
        {
            string file = Path.Combine(dir, $"{stem}.{t.Name}.csv");
            var sb = new StringBuilder();
            Row(sb, t.Columns);
            foreach (var row in t.Rows)
            {
                Row(sb, row);
            }
            files.Add((file, sb.ToString()));
            Row(index, [r.From, r.To, r.TimeZone, r.GeneratedAt, r.Agent ?? "", t.Name, Path.GetFileName(file), t.Rows.Count.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        }
        files.Insert(0, (outPath, index.ToString()));
        return files;
    }

    private static void Row(StringBuilder sb, IReadOnlyList<string> cells)
    {
        for (int i = 0; i < cells.Count; i++)
        {
            if (i > 0)
            {
                sb.Append(',');
            }
            string c = cells[i];
            // A leading = + - @ would be a formula to a spreadsheet: quote it and prefix an apostrophe.
            bool formula = c.Length > 0 && c[0] is '=' or '+' or '@' or '-' && !long.TryParse(c, out _);
            if (formula || c.AsSpan().IndexOfAny(",\"\r\n") >= 0)
            {
                sb.Append('"').Append(formula ? "'" : "").Append(c.Replace("\"", "\"\"", StringComparison.Ordinal)).Append('"');
            }
            else
            {
                sb.Append(c);
            }
        }
        sb.Append("\r\n");
    }
}
