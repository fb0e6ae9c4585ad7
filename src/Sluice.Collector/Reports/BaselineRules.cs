using Sluice.Audit.Rules;

namespace Sluice.Collector.Reports;

/// <summary>A baseline rules file (auditctl syntax, as audit.rules) compiled and printed as <c>auditctl -l</c> prints it, the form agents report.</summary>
internal sealed record BaselineRules(string Path, IReadOnlyList<string> Lines)
{
    /// <exception cref="ArgumentException">The file cannot be read, or has rule errors (each named with file, line and reason).</exception>
    public static BaselineRules Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new ArgumentException($"--baseline '{path}': no such file");
        }
        var set = RuleParser.ParseFiles([path]);
        if (!set.IsValid)
        {
            throw new ArgumentException($"--baseline '{path}': not a usable rules file: {string.Join("; ", set.Errors.Select(e => e.ToString()))}");
        }
        return FromRules(path, set);
    }

    /// <summary>The rules of <paramref name="text"/>, for tests and callers that hold the text.</summary>
    public static BaselineRules Parse(string text, string name)
    {
        var set = RuleParser.Parse(text, name);
        if (!set.IsValid)
        {
            throw new ArgumentException($"baseline '{name}': {string.Join("; ", set.Errors.Select(e => e.ToString()))}");
        }
        return FromRules(name, set);
    }

    private static BaselineRules FromRules(string path, RuleSet set) =>
        new(path, [.. set.InKernelOrder().Select(r => RuleFormatter.Format(r.Listed)).Distinct(StringComparer.Ordinal)]);

    /// <summary>The lines of a reported rule list; "No rules" is none.</summary>
    public static List<string> SplitLines(string rules) =>
        [.. rules.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Where(l => l != "No rules")];

    /// <summary>Whitespace runs as one space: lines compare as auditctl prints them.</summary>
    public static string Normalize(string line) => string.Join(' ', line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
}
