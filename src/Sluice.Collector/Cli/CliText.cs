using System.Globalization;
using System.Text.Json;

namespace Sluice.Collector.Cli;

/// <summary>How the CLI verbs write times in JSON and tables in text, the same way in each.</summary>
internal static class CliText
{
    /// <summary>A time as <c>NAME</c> (ISO 8601, UTC, milliseconds) and <c>NAME_unix_ms</c>; null when there is none.</summary>
    internal static void WriteTime(Utf8JsonWriter w, string name, long? unixMs)
    {
        if (unixMs is long ms)
        {
            w.WriteString(name, DateTimeOffset.FromUnixTimeMilliseconds(ms).ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture));
            w.WriteNumber(name + "_unix_ms", ms);
        }
        else
        {
            w.WriteNull(name);
        }
    }

    /// <summary>Columns padded to their widest cell, two spaces apart; trailing blanks cut.</summary>
    internal static string Table(List<string[]> rows)
    {
        var widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        var sb = new System.Text.StringBuilder();
        foreach (var r in rows)
        {
            sb.AppendJoin("  ", r.Select((cell, c) => cell.PadRight(widths[c]))).Append('\n');
        }
        return string.Join('\n', sb.ToString().Split('\n').Select(l => l.TrimEnd()));
    }

    /// <summary>A refusal as one table cell: line breaks and control characters as spaces.</summary>
    internal static string OneLine(string s) => string.Concat(s.Select(c => char.IsControl(c) ? ' ' : c));
}
