using System.Text;

namespace Sluice.Collector.Reports;

/// <summary>The <c>md</c> format: the report's tables in GitHub-flavoured Markdown.</summary>
internal static class ReportMarkdown
{
    public static string Render(ComplianceReport r)
    {
        var sb = new StringBuilder();
        sb.Append("# Sluice compliance report\n\n");
        sb.Append($"- Range: {r.From} to {r.To} (times in {r.TimeZone}; from inclusive, to exclusive)\n");
        sb.Append($"- Agents: {(r.Agent is null ? "all" : Cell(r.Agent))} ({r.Coverage.Count})\n");
        sb.Append($"- Generated: {r.GeneratedAt}\n");
        foreach (string line in ReportTables.Summary(r))
        {
            sb.Append("- ").Append(Cell(line)).Append('\n');
        }
        sb.Append('\n');
        foreach (var t in ReportTables.All(r))
        {
            var controls = ReportTables.Controls(r, t.Name);
            sb.Append("## ").Append(t.Title).Append("\n\n");
            if (controls.Count > 0)
            {
                sb.Append("Evidences: ").AppendJoin("; ", controls.Select(c => $"{c.Framework} {c.Id} ({c.Title})")).Append("\n\n");
            }
            if (t.Note is not null)
            {
                sb.Append(Cell(t.Note)).Append("\n\n");
            }
            if (t.Rows.Count == 0)
            {
                sb.Append("None.\n\n");
                continue;
            }
            sb.Append("| ").AppendJoin(" | ", t.Columns).Append(" |\n");
            sb.Append('|').AppendJoin("", t.Columns.Select(_ => "---|")).Append('\n');
            foreach (var row in t.Rows)
            {
                sb.Append("| ").AppendJoin(" | ", row.Select(Cell)).Append(" |\n");
            }
            sb.Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>A table cell: pipes escaped, line breaks as &lt;br&gt;, Markdown markup characters escaped.</summary>
    private static string Cell(string s)
    {
        var sb = new StringBuilder(s.Length);
        foreach (char c in s)
        {
            switch (c)
            {
                case '|' or '\\' or '`' or '*' or '_' or '[' or ']' or '<' or '>' or '#':
                    sb.Append('\\').Append(c);
                    break;
                case '\n':
                    sb.Append("<br>");
                    break;
                case '\r' or '\t':
                    sb.Append(' ');
                    break;
                default:
                    sb.Append(char.IsControl(c) ? '\uFFFD' : c);
                    break;
            }
        }
        return sb.ToString();
    }
}
