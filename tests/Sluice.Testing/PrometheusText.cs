using System.Globalization;
using System.Text.RegularExpressions;

namespace Sluice.Testing;

/// <summary>Reads the Prometheus text format (what <c>/metrics</c> serves) and the metric tables of docs/metrics.md.</summary>
public static partial class PrometheusText
{
    /// <summary>Each metric family's name and type, from the <c># TYPE</c> lines.</summary>
    public static IReadOnlyDictionary<string, string> Families(string text) =>
        text.Split('\n').Where(l => l.StartsWith("# TYPE ", StringComparison.Ordinal))
            .Select(l => l.Split(' ')).ToDictionary(p => p[2], p => p[3]);

    /// <summary>Every sample: <c>name</c> or <c>name{a="x",b="y"}</c> as written (an empty <c>{}</c> dropped) → value.</summary>
    public static IReadOnlyDictionary<string, double> Samples(string text)
    {
        var samples = new Dictionary<string, double>();
        foreach (string line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }
            int space = line.LastIndexOf(' ');
            string key = line[..space].Replace("{}", "", StringComparison.Ordinal);
            samples.Add(key, double.Parse(line[(space + 1)..], CultureInfo.InvariantCulture));
        }
        return samples;
    }

    /// <summary>
    /// The metric names listed in docs/metrics.md under the heading <paramref name="section"/>
    /// (a "## " heading): the first cell of each table row, in backticks.
    /// </summary>
    public static IReadOnlyList<string> Documented(string repoRoot, string section)
    {
        var names = new List<string>();
        bool inSection = false;
        foreach (string line in File.ReadLines(Path.Combine(repoRoot, "docs", "metrics.md")))
        {
            if (line.StartsWith("## ", StringComparison.Ordinal))
            {
                inSection = line[3..].Trim() == section;
                continue;
            }
            if (inSection && RowName().Match(line) is { Success: true } m)
            {
                names.Add(m.Groups[1].Value);
            }
        }
        return names;
    }

    /// <summary>The repository's root: the directory above the test's binaries that holds Agent.sln.</summary>
    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Agent.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException($"no Agent.sln above {AppContext.BaseDirectory}");
    }

    [GeneratedRegex(@"^\|\s*`([a-z_:][a-z0-9_:]*)`\s*\|")]
    private static partial Regex RowName();
}
