using System.Globalization;
using System.Net;
using System.Text;

namespace Sluice.Collector.Reports;

/// <summary>The <c>html</c> format: one self-contained page (inline CSS and SVG charts, nothing fetched).</summary>
internal static class ReportHtml
{
    private const int MaxChartHosts = 10;
    private static readonly string[] Palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#555555"];

    public static string Render(ComplianceReport r)
    {
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
        sb.Append("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n");
        sb.Append("<title>Sluice compliance report ").Append(E(r.From)).Append(" to ").Append(E(r.To)).Append("</title>\n<style>\n");
        sb.Append("""
            body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
            table{border-collapse:collapse;margin:.5em 0 1.5em}
            th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
            th{background:#f0f0f0}
            td.num{text-align:right}
            .ok{color:#17692d}.bad{color:#b00020;font-weight:bold}
            .note,.controls{color:#555}
            svg{background:#fafafa;border:1px solid #ddd}
            svg text{font:11px sans-serif;fill:#444}
            """);
        sb.Append("</style></head><body>\n");
        sb.Append("<h1>Sluice compliance report</h1>\n<ul>\n");
        sb.Append($"<li>Range: {E(r.From)} to {E(r.To)} (times in {E(r.TimeZone)}; from inclusive, to exclusive)</li>\n");
        sb.Append($"<li>Agents: {(r.Agent is null ? "all" : E(r.Agent))} ({r.Coverage.Count})</li>\n");
        sb.Append($"<li>Generated: {E(r.GeneratedAt)}</li>\n");
        foreach (string line in ReportTables.Summary(r))
        {
            sb.Append("<li>").Append(E(line)).Append("</li>\n");
        }
        sb.Append("</ul>\n");

        sb.Append("<h2>Events per hour per host</h2>\n");
        EventsChart(sb, r);
        sb.Append("<h2>Loss over time</h2>\n");
        LossChart(sb, r);

        foreach (var t in ReportTables.All(r))
        {
            sb.Append($"<h2 id=\"{E(t.Name)}\">{E(t.Title)}</h2>\n");
            var controls = ReportTables.Controls(r, t.Name);
            if (controls.Count > 0)
            {
                sb.Append("<p class=\"controls\">Evidences: ").Append(string.Join("; ", controls.Select(c => E($"{c.Framework} {c.Id} ({c.Title})")))).Append("</p>\n");
            }
            if (t.Note is not null)
            {
                sb.Append("<p class=\"note\">").Append(E(t.Note)).Append("</p>\n");
            }
            if (t.Rows.Count == 0)
            {
                sb.Append("<p>None.</p>\n");
                continue;
            }
            sb.Append($"<table data-table=\"{E(t.Name)}\"><thead><tr>");
            foreach (var c in t.Columns)
            {
                sb.Append("<th>").Append(E(c)).Append("</th>");
            }
            sb.Append("</tr></thead><tbody>\n");
            foreach (var row in t.Rows)
            {
                sb.Append("<tr>");
                for (int i = 0; i < row.Count; i++)
                {
                    string cell = row[i];
                    string cls = t.Columns[i] is "verdict" or "compliant" or "complete"
                        ? (cell is "continuous, complete" or "yes" ? " class=\"ok\"" : " class=\"bad\"")
                        : long.TryParse(cell, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _) ? " class=\"num\"" : "";
                    sb.Append("<td").Append(cls).Append('>').Append(E(cell).Replace("\n", "<br>", StringComparison.Ordinal)).Append("</td>");
                }
                sb.Append("</tr>\n");
            }
            sb.Append("</tbody></table>\n");
        }
        sb.Append("</body></html>\n");
        return sb.ToString();
    }

    private const int W = 900, H = 260, Left = 60, Right = 160, Top = 10, Bottom = 30;

    /// <summary>One line per host (the busiest ten, the rest summed as "others"), one point per hour of the range.</summary>
    private static void EventsChart(StringBuilder sb, ComplianceReport r)
    {
        long firstHour = r.FromUnixMs / ReportTime.HourMs, lastHour = (r.ToUnixMs - 1) / ReportTime.HourMs;
        int hours = (int)Math.Min(lastHour - firstHour + 1, 24 * 400);
        var byHost = r.EventsPerHour.GroupBy(h => h.AgentId).Select(g => (Agent: g.Key, Total: g.Sum(x => x.Events), Points: g.ToList()))
            .OrderByDescending(x => x.Total).ThenBy(x => x.Agent, StringComparer.Ordinal).ToList();
        var series = byHost.Take(MaxChartHosts).Select(x => (Name: x.Agent, Values: Series(x.Points, firstHour, hours))).ToList();
        if (byHost.Count > MaxChartHosts)
        {
            series.Add(($"others ({byHost.Count - MaxChartHosts}, sum)", Series(byHost.Skip(MaxChartHosts).SelectMany(x => x.Points), firstHour, hours)));
        }
        long max = Math.Max(1, series.SelectMany(s => s.Values).DefaultIfEmpty(0).Max());
        Frame(sb, "events-per-hour", r, max, "events/h");
        for (int s = 0; s < series.Count; s++)
        {
            var (name, values) = series[s];
            string color = Palette[s % Palette.Length];
            sb.Append($"<polyline data-host=\"{E(name)}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"");
            for (int i = 0; i < values.Length; i++)
            {
                sb.Append(F(X(i, hours))).Append(',').Append(F(Y(values[i], max))).Append(' ');
            }
            sb.Append($"\"><title>{E(name)}: {values.Sum()} events</title></polyline>\n");
            sb.Append($"<text x=\"{W - Right + 8}\" y=\"{Top + 12 + s * 14}\" style=\"fill:{color}\">{E(name)}</text>\n");
        }
        sb.Append("</svg>\n");
    }

    /// <summary>Bars per hour: events lost over all hosts, stacked by kind.</summary>
    private static void LossChart(StringBuilder sb, ComplianceReport r)
    {
        long firstHour = r.FromUnixMs / ReportTime.HourMs, lastHour = (r.ToUnixMs - 1) / ReportTime.HourMs;
        int hours = (int)Math.Min(lastHour - firstHour + 1, 24 * 400);
        var perHour = r.LossOverTime.GroupBy(l => l.HourUnixMs / ReportTime.HourMs - firstHour)
            .Where(g => g.Key >= 0 && g.Key < hours)
            .ToDictionary(g => (int)g.Key, g => g.Aggregate(new LossCounts(), (s, l) => s + l.Loss));
        long max = Math.Max(1, perHour.Values.Select(l => l.Total).DefaultIfEmpty(0).Max());
        Frame(sb, "loss-over-time", r, max, "lost/h");
        // The kinds whose events make up the total, so that a bar's height is the hour's total.
        var kinds = ReportLoss.EventKinds.Select(k => (k.Label, Index: ReportLoss.IndexOf(k))).ToArray();
        double barWidth = Math.Max(1.0, (W - Left - Right) / (double)hours - 1);
        foreach (var (hour, loss) in perHour.OrderBy(kv => kv.Key))
        {
            long below = 0;
            for (int k = 0; k < kinds.Length; k++)
            {
                long v = ReportLoss.Values(loss)[kinds[k].Index];
                if (v == 0)
                {
                    continue;
                }
                long top = Sluice.Collector.Storage.Saturating.Add(below, v);
                double y0 = Y(below, max), y1 = Y(top, max);
                sb.Append($"<rect data-hour=\"{E(ReportTime.Iso((firstHour + hour) * ReportTime.HourMs))}\" data-kind=\"{kinds[k].Label}\" data-lost=\"{v}\" x=\"{F(X(hour, hours))}\" y=\"{F(y1)}\" width=\"{F(barWidth)}\" height=\"{F(Math.Max(0.5, y0 - y1))}\" fill=\"{Palette[k + 3]}\">");
                sb.Append($"<title>{E(ReportTime.Iso((firstHour + hour) * ReportTime.HourMs))}: {v} {kinds[k].Label}</title></rect>\n");
                below = top;
            }
        }
        for (int k = 0; k < kinds.Length; k++)
        {
            sb.Append($"<text x=\"{W - Right + 8}\" y=\"{Top + 12 + k * 14}\" style=\"fill:{Palette[k + 3]}\">{kinds[k].Label}</text>\n");
        }
        if (perHour.Count == 0)
        {
            sb.Append($"<text x=\"{Left + 10}\" y=\"{Top + 20}\">no loss reported</text>\n");
        }
        sb.Append("</svg>\n");
    }

    private static void Frame(StringBuilder sb, string id, ComplianceReport r, long max, string unit)
    {
        sb.Append($"<svg id=\"{id}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\">\n");
        sb.Append($"<line x1=\"{Left}\" y1=\"{H - Bottom}\" x2=\"{W - Right}\" y2=\"{H - Bottom}\" stroke=\"#888\"/>");
        sb.Append($"<line x1=\"{Left}\" y1=\"{Top}\" x2=\"{Left}\" y2=\"{H - Bottom}\" stroke=\"#888\"/>\n");
        sb.Append($"<text x=\"{Left - 4}\" y=\"{Top + 10}\" text-anchor=\"end\">{max}</text>");
        sb.Append($"<text x=\"{Left - 4}\" y=\"{H - Bottom}\" text-anchor=\"end\">0</text>");
        sb.Append($"<text x=\"4\" y=\"{Top + 24}\">{unit}</text>\n");
        sb.Append($"<text x=\"{Left}\" y=\"{H - 10}\">{E(ReportTime.Short(r.FromUnixMs))} UTC</text>");
        sb.Append($"<text x=\"{W - Right}\" y=\"{H - 10}\" text-anchor=\"end\">{E(ReportTime.Short(r.ToUnixMs))} UTC</text>\n");
    }

    private static long[] Series(IEnumerable<HourCount> points, long firstHour, int hours)
    {
        var values = new long[hours];
        foreach (var p in points)
        {
            long i = p.HourUnixMs / ReportTime.HourMs - firstHour;
            if (i >= 0 && i < hours)
            {
                values[i] += p.Events;
            }
        }
        return values;
    }

    private static double X(int i, int n) => Left + (n <= 1 ? 0 : (W - Left - Right) * (double)i / (n - 1));

    private static double Y(long v, long max) => H - Bottom - (H - Top - Bottom) * (double)v / max;

    private static string F(double v) => v.ToString("0.#", CultureInfo.InvariantCulture);

    private static string E(string s) => WebUtility.HtmlEncode(s);
}
