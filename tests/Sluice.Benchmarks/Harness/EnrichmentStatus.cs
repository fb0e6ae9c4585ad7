using System.Text.Json;

namespace Sluice.Benchmarks.Harness;

/// <summary>
/// The <c>enrichment</c> section of <c>sluice-agent status --json</c> (issue 19): whether the
/// agent's process table is on, how many processes it holds and the bytes it accounts for. Read
/// after each Sluice trial; an agent built before the section existed has none, and every figure
/// is then reported as "n/a". Parsed from the JSON text, not through the agent's types, so the
/// harness builds and runs against an agent with or without the section.
/// </summary>
public sealed record EnrichmentStatus(bool? Enabled, long? Processes, long? TableBytes, long? MaxProcesses, long? Evicted, long? ParentUnknown)
{
    /// <summary>The property that holds the section, at the top level (the status socket's line) or under <c>agent</c> (<c>status --json</c>).</summary>
    public const string Section = "enrichment";

    /// <summary>
    /// The section in <paramref name="json"/>, one JSON object; null when there is none (an agent
    /// before issue 19, or no agent answering) or the text is not JSON. A key missing from the
    /// section, or of another type, is null; the others are kept.
    /// </summary>
    public static EnrichmentStatus? Parse(string? json)
    {
        if (string.IsNullOrWhiteSpace(json))
        {
            return null;
        }
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                return null;
            }
            var root = doc.RootElement;
            JsonElement section;
            if (!(root.TryGetProperty(Section, out section) && section.ValueKind == JsonValueKind.Object)
                && !(root.TryGetProperty("agent", out var agent) && agent.ValueKind == JsonValueKind.Object
                    && agent.TryGetProperty(Section, out section) && section.ValueKind == JsonValueKind.Object))
            {
                return null;
            }
            return new EnrichmentStatus(
                Bool(section, "enabled"),
                Number(section, "processes"),
                Number(section, "table_bytes"),
                Number(section, "max_processes"),
                Number(section, "evicted"),
                Number(section, "parent_unknown"));
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The one line of JSON in a command's output (the first that starts with <c>{</c>), or null.</summary>
    public static string? JsonLine(string output) =>
        output.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith('{'));

    /// <summary>
    /// Runs <c>AGENT status --json --socket SOCKET</c> and parses its section; null when the agent
    /// has none, or the command failed or did not answer within 15 s (said on the console).
    /// </summary>
    public static EnrichmentStatus? Query(string agentPath, string statusSocket)
    {
        var lines = new List<string>();
        using var status = ChildProcess.Start("sluice-agent status", agentPath, ["status", "--json", "--socket", statusSocket], line =>
        {
            lock (lines)
            {
                lines.Add(line);
            }
        });
        if (!status.WaitForExit(TimeSpan.FromSeconds(15)))
        {
            status.Stop(TimeSpan.FromSeconds(2));
            Console.Error.WriteLine("sluice-agent status --json did not answer within 15 s: enrichment figures n/a");
            return null;
        }
        if (status.ExitCode != 0)
        {
            Console.Error.WriteLine($"sluice-agent status --json exited with code {status.ExitCode}: enrichment figures n/a; its output:\n{status.Output}");
            return null;
        }
        string text;
        lock (lines)
        {
            text = string.Join('\n', lines);
        }
        return Parse(JsonLine(text));
    }

    private static long? Number(JsonElement section, string name) =>
        section.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long n) ? n : null;

    private static bool? Bool(JsonElement section, string name) =>
        section.TryGetProperty(name, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : null;
}
