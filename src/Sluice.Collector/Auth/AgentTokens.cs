using System.Security.Cryptography;
using System.Text;

namespace Sluice.Collector.Auth;

/// <summary>The enrolled agents and their tokens, loaded from a token file.</summary>
/// <remarks>
/// File format, one agent per line: <c>AGENT_ID TOKEN</c> or <c>AGENT_ID sha256:HEX</c>
/// (the SHA-256 of the token, so the file need not hold secrets), optionally followed by
/// <c>group=GROUP</c>: the agent's group for central policy (<see cref="DefaultGroup"/> without it).
/// Blank lines and lines starting with <c>#</c> are ignored. Only SHA-256 digests are kept in memory; a presented
/// token is hashed and looked up, and the digests are compared in constant time.
/// </remarks>
internal sealed class AgentTokens
{
    private const string HashPrefix = "sha256:";
    private const string GroupPrefix = "group=";

    /// <summary>The group of an agent whose line names none.</summary>
    public const string DefaultGroup = "default";

    /// <summary>Longest group name: it is a key in the store and goes into every heartbeat row.</summary>
    public const int MaxGroupLength = 64;

    private readonly Dictionary<string, (string AgentId, byte[] Digest)> _byDigestHex;
    private readonly Dictionary<string, string> _groups;

    private AgentTokens(Dictionary<string, (string, byte[])> byDigestHex, Dictionary<string, string> groups)
    {
        _byDigestHex = byDigestHex;
        _groups = groups;
    }

    public int Count => _byDigestHex.Count;

    /// <summary>The enrolled agents, in no particular order.</summary>
    public IEnumerable<string> Agents => _groups.Keys;

    /// <summary>The group of an enrolled agent; <see cref="DefaultGroup"/> for one that is not enrolled.</summary>
    public string GroupOf(string agentId) => _groups.GetValueOrDefault(agentId, DefaultGroup);

    /// <summary>A group name: 1-64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit.</summary>
    public static bool IsValidGroup(string group) =>
        group.Length is > 0 and <= MaxGroupLength && char.IsAsciiLetterOrDigit(group[0])
        && group.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    /// <summary>Reads and parses a token file; one that group or others can read or write is refused (<see cref="SecretFile"/>).</summary>
    /// <exception cref="FormatException">The file cannot be read, is open to others, or has a bad line; the message names the file.</exception>
    public static AgentTokens Load(string path)
    {
        return Parse(SecretFile.ReadAllText(path, "token file"), $"token file {path}");
    }

    public static AgentTokens Parse(string text, string source = "tokens")
    {
        var map = new Dictionary<string, (string, byte[])>(StringComparer.Ordinal);
        var groups = new Dictionary<string, string>(StringComparer.Ordinal);
        int lineNo = 0;
        foreach (var rawLine in text.Split('\n'))
        {
            lineNo++;
            var line = rawLine.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }
            var parts = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length is < 2 or > 3)
            {
                throw new FormatException($"{source} line {lineNo}: expected 'AGENT_ID TOKEN' or 'AGENT_ID sha256:HEX', optionally followed by 'group=GROUP', got {parts.Length} fields");
            }
            string group = DefaultGroup;
            if (parts.Length == 3)
            {
                if (!parts[2].StartsWith(GroupPrefix, StringComparison.Ordinal))
                {
                    throw new FormatException($"{source} line {lineNo}: the third field must be 'group=GROUP', got '{Shorten(parts[2])}'");
                }
                group = parts[2][GroupPrefix.Length..];
                if (!IsValidGroup(group))
                {
                    throw new FormatException($"{source} line {lineNo}: group '{Shorten(group)}' is not valid (1-{MaxGroupLength} characters of A-Z a-z 0-9 . _ -, starting with a letter or digit)");
                }
            }
            string agentId = parts[0];
            if (!Ingest.BatchValidator.IsValidAgentId(agentId))
            {
                throw new FormatException($"{source} line {lineNo}: agent id '{agentId}' is not valid (1-128 characters of A-Z a-z 0-9 . _ : -)");
            }
            if (!groups.TryAdd(agentId, group))
            {
                throw new FormatException($"{source} line {lineNo}: agent id '{agentId}' appears twice");
            }
            byte[] digest;
            if (parts[1].StartsWith(HashPrefix, StringComparison.OrdinalIgnoreCase))
            {
                string hex = parts[1][HashPrefix.Length..];
                try
                {
                    digest = Convert.FromHexString(hex);
                }
                catch (FormatException)
                {
                    throw new FormatException($"{source} line {lineNo}: '{parts[1]}' is not sha256: followed by hex");
                }
                if (digest.Length != SHA256.HashSizeInBytes)
                {
                    throw new FormatException($"{source} line {lineNo}: a sha256 digest has {SHA256.HashSizeInBytes * 2} hex digits, got {hex.Length}");
                }
            }
            else
            {
                if (parts[1].Length < 16)
                {
                    throw new FormatException($"{source} line {lineNo}: the token for '{agentId}' is shorter than 16 characters");
                }
                digest = Digest(parts[1]);
            }
            if (!map.TryAdd(Convert.ToHexString(digest), (agentId, digest)))
            {
                throw new FormatException($"{source} line {lineNo}: the token for '{agentId}' is already used by another agent");
            }
        }
        return new AgentTokens(map, groups);
    }

    private static string Shorten(string s) => s.Length <= 64 ? s : s[..64] + "...";

    /// <summary>The agent that owns <paramref name="token"/>, or null if no enrolled agent does.</summary>
    public string? FindAgent(string token)
    {
        byte[] digest = Digest(token);
        if (_byDigestHex.TryGetValue(Convert.ToHexString(digest), out var entry)
            && CryptographicOperations.FixedTimeEquals(entry.Digest, digest))
        {
            return entry.AgentId;
        }
        return null;
    }

    /// <summary>The agent whose token has this SHA-256 digest, or null.</summary>
    internal string? FindAgentByDigest(byte[] digest) =>
        _byDigestHex.TryGetValue(Convert.ToHexString(digest), out var entry) ? entry.AgentId : null;

    /// <summary>The line to put in a token file for a token, without the token itself.</summary>
    public static string HashedLine(string agentId, string token) =>
        $"{agentId} {HashPrefix}{Convert.ToHexStringLower(Digest(token))}";

    /// <summary>The line to put in a token file for a token and a group, without the token itself.</summary>
    public static string HashedLine(string agentId, string token, string group) => $"{HashedLine(agentId, token)} {GroupPrefix}{group}";

    private static byte[] Digest(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));
}
