using System.Globalization;
using System.Text;
using System.Text.Json;
using Sluice.Audit.Rules;

namespace Sluice.Collector.Policy;

/// <summary>A policy file refused: the file, the line (0 when none applies) and why.</summary>
internal sealed class PolicyFileException(string file, int line, string reason)
    : Exception(line > 0 ? $"{file}:{line}: {reason}" : $"{file}: {reason}")
{
    public string File { get; } = file;
    public int Line { get; } = line;
    public string Reason { get; } = reason;
}

/// <summary>
/// Checks a central policy before the collector stores it: the rules with the compiler the agent uses
/// (<see cref="RuleParser"/>, all of them, every error named with its line), the filters for the shape of the agent's
/// <c>Filters</c> section (a JSON array of filter rules), and both for size and text the store and the wire can carry.
/// </summary>
/// <remarks>
/// The rules compile here as they would on this host: user and group names resolve here, and a <c>-w</c> path that is
/// a directory here is a tree watch. A policy for hosts that differ (other users, other syscall tables) can be stored
/// with <c>--no-check</c>; the agent still compiles it all-or-nothing and reports a refusal, which the collector shows.
/// Size and encoding are checked even then.
/// </remarks>
internal static class PolicyCheck
{
    /// <summary>Largest rules file: a policy travels whole in one heartbeat reply (the agent's gRPC limit is 4 MiB).</summary>
    public const int MaxRulesBytes = 1024 * 1024;

    /// <summary>Largest filters file.</summary>
    public const int MaxFiltersBytes = 256 * 1024;

    /// <summary>Filter rules in one policy at most.</summary>
    public const int MaxFilterRules = 1000;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Reads a policy file as UTF-8 text, refusing one too large, not UTF-8, or holding NUL characters.</summary>
    /// <exception cref="PolicyFileException">Naming the file.</exception>
    public static string Read(string path, int maxBytes)
    {
        byte[] bytes;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                throw new PolicyFileException(path, 0, "no such file");
            }
            if (info.Length > maxBytes)
            {
                throw new PolicyFileException(path, 0, $"{info.Length} bytes, more than the {maxBytes} a policy file may have (it travels whole in a heartbeat reply)");
            }
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PolicyFileException(path, 0, $"cannot read it: {e.Message}");
        }
        return Decode(bytes, path, maxBytes);
    }

    /// <summary>The text of <paramref name="bytes"/>, checked as <see cref="Read"/> checks a file.</summary>
    public static string Decode(byte[] bytes, string name, int maxBytes)
    {
        if (bytes.Length > maxBytes)
        {
            throw new PolicyFileException(name, 0, $"{bytes.Length} bytes, more than the {maxBytes} a policy file may have (it travels whole in a heartbeat reply)");
        }
        string text;
        try
        {
            text = StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            int at = e.Index >= 0 ? e.Index : 0;
            throw new PolicyFileException(name, LineAt(bytes, at), $"not UTF-8 text (byte offset {at})");
        }
        if (text.Length > 0 && text[0] == '\uFEFF')
        {
            throw new PolicyFileException(name, 1, "starts with a byte-order mark; save it as UTF-8 without one");
        }
        int nul = text.IndexOf('\0', StringComparison.Ordinal);
        if (nul >= 0)
        {
            throw new PolicyFileException(name, 1 + text.AsSpan(0, nul).Count('\n'), "contains a NUL character");
        }
        return text;
    }

    /// <summary>Compiles the rules as the agent does; every error is named with its line.</summary>
    /// <exception cref="PolicyFileException">The first error, and how many there are.</exception>
    public static RuleSet CheckRules(string rules, string name, RuleParserOptions? options = null)
    {
        var set = RuleParser.Parse(rules, name, options);
        if (!set.IsValid)
        {
            var first = set.Errors[0];
            string more = set.Errors.Count > 1 ? $" (and {set.Errors.Count - 1} more: {string.Join("; ", set.Errors.Skip(1).Take(5).Select(e => e.ToString()))})" : "";
            throw new PolicyFileException(first.File, first.Line, (first.Token is null ? "" : $"'{first.Token}': ") + first.Reason + more);
        }
        return set;
    }

    private static readonly string[] TextLists = ["RecordTypes", "Syscalls", "Keys", "Exe", "Comm", "PathPrefixes"];
    private static readonly string[] IdLists = ["Uids", "Auids", "Euids"];
    private static readonly string[] Actions = ["Keep", "Drop", "Sample", "RateLimit"];

    /// <summary>
    /// Checks filters text: empty (no filters) or a JSON array of objects shaped as the agent's filter rules (Name,
    /// RecordTypes, Syscalls, Keys, Uids, Auids, Euids, Exe, Comm, PathPrefixes, Success, Action, SampleEvery,
    /// RatePerSecond; names as the configuration binder takes them, in any case). Returns the number of rules.
    /// </summary>
    /// <exception cref="PolicyFileException">The line and what is wrong.</exception>
    public static int CheckFilters(string filters, string name)
    {
        if (filters.Length == 0)
        {
            return 0;
        }
        byte[] bytes = Encoding.UTF8.GetBytes(filters);
        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 8 });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartArray)
            {
                throw new PolicyFileException(name, reader.TokenType == JsonTokenType.None ? 1 : LineAt(bytes, (int)reader.TokenStartIndex), "expected a JSON array of filter rules ([ { \"Action\": \"Drop\", ... } ])");
            }
            int count = 0;
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                if (reader.TokenType != JsonTokenType.StartObject)
                {
                    throw new PolicyFileException(name, LineAt(bytes, (int)reader.TokenStartIndex), $"filter rule {count}: expected an object, got {reader.TokenType}");
                }
                if (++count > MaxFilterRules)
                {
                    throw new PolicyFileException(name, LineAt(bytes, (int)reader.TokenStartIndex), $"more than {MaxFilterRules} filter rules");
                }
                CheckRule(ref reader, bytes, name, count - 1);
            }
            // Anything after the array is refused by the reader itself.
            while (reader.Read())
            {
            }
            return count;
        }
        catch (JsonException e)
        {
            throw new PolicyFileException(name, (int)(e.LineNumber ?? 0) + 1, "not valid JSON: " + FirstSentence(e.Message));
        }
    }

    private static void CheckRule(ref Utf8JsonReader reader, byte[] bytes, string name, int index)
    {
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            int line = LineAt(bytes, (int)reader.TokenStartIndex);
            string property = reader.GetString()!;
            string where = $"filter rule {index}, \"{property}\"";
            if (!seen.Add(property))
            {
                throw new PolicyFileException(name, line, $"{where}: given twice");
            }
            reader.Read();
            if (reader.TokenType == JsonTokenType.Null)
            {
                continue;
            }
            string? known = Known(property);
            switch (known)
            {
                case "Name":
                    Expect(ref reader, JsonTokenType.String, name, line, where, "a string");
                    break;
                case "Success":
                    if (reader.TokenType is not (JsonTokenType.True or JsonTokenType.False))
                    {
                        throw new PolicyFileException(name, line, $"{where}: expected true or false");
                    }
                    break;
                case "Action":
                    Expect(ref reader, JsonTokenType.String, name, line, where, "one of " + string.Join(", ", Actions));
                    string action = reader.GetString()!;
                    if (!Actions.Contains(action, StringComparer.OrdinalIgnoreCase))
                    {
                        throw new PolicyFileException(name, line, $"{where}: '{action}' is not one of {string.Join(", ", Actions)}");
                    }
                    break;
                case "SampleEvery":
                    double every = Number(ref reader, name, line, where);
                    if (every != Math.Floor(every) || every is < 2 or > 1_000_000)
                    {
                        throw new PolicyFileException(name, line, $"{where}: {every.ToString(CultureInfo.InvariantCulture)} is not a whole number from 2 to 1000000");
                    }
                    break;
                case "RatePerSecond":
                    double rate = Number(ref reader, name, line, where);
                    if (rate is < 0.001 or > 1_000_000 || double.IsNaN(rate))
                    {
                        throw new PolicyFileException(name, line, $"{where}: {rate.ToString(CultureInfo.InvariantCulture)} is not from 0.001 to 1000000");
                    }
                    break;
                case not null when TextLists.Contains(known):
                    Expect(ref reader, JsonTokenType.StartArray, name, line, where, "an array of strings");
                    while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                    {
                        int itemLine = LineAt(bytes, (int)reader.TokenStartIndex);
                        if (reader.TokenType != JsonTokenType.String || reader.GetString()!.Length == 0)
                        {
                            throw new PolicyFileException(name, itemLine, $"{where}: every entry must be a non-empty string");
                        }
                    }
                    break;
                case not null when IdLists.Contains(known):
                    Expect(ref reader, JsonTokenType.StartArray, name, line, where, "an array of ids (0-4294967295)");
                    while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                    {
                        int itemLine = LineAt(bytes, (int)reader.TokenStartIndex);
                        if (reader.TokenType != JsonTokenType.Number || !reader.TryGetUInt32(out _))
                        {
                            throw new PolicyFileException(name, itemLine, $"{where}: every entry must be an id from 0 to 4294967295");
                        }
                    }
                    break;
                default:
                    throw new PolicyFileException(name, line,
                        $"filter rule {index}: unknown field \"{property}\" (known: Name, {string.Join(", ", TextLists)}, {string.Join(", ", IdLists)}, Success, Action, SampleEvery, RatePerSecond)");
            }
        }
    }

    private static string? Known(string property)
    {
        foreach (string k in (string[])["Name", "Success", "Action", "SampleEvery", "RatePerSecond", .. TextLists, .. IdLists])
        {
            if (string.Equals(k, property, StringComparison.OrdinalIgnoreCase))
            {
                return k;
            }
        }
        return null;
    }

    private static void Expect(ref Utf8JsonReader reader, JsonTokenType type, string name, int line, string where, string what)
    {
        if (reader.TokenType != type)
        {
            throw new PolicyFileException(name, line, $"{where}: expected {what}, got {reader.TokenType}");
        }
    }

    /// <summary>A JSON number, or a string holding one (the configuration binder takes both).</summary>
    private static double Number(ref Utf8JsonReader reader, string name, int line, string where)
    {
        if (reader.TokenType == JsonTokenType.Number && reader.TryGetDouble(out double v))
        {
            return v;
        }
        if (reader.TokenType == JsonTokenType.String
            && double.TryParse(reader.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out double s))
        {
            return s;
        }
        throw new PolicyFileException(name, line, $"{where}: expected a number");
    }

    private static int LineAt(byte[] bytes, int offset) => 1 + bytes.AsSpan(0, Math.Clamp(offset, 0, bytes.Length)).Count((byte)'\n');

    private static string FirstSentence(string message)
    {
        int cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        return (cut > 0 ? message[..cut] : message).TrimEnd();
    }
}
