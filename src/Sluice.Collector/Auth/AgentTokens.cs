using System.Security.Cryptography;
using System.Text;

namespace Sluice.Collector.Auth;

/// <summary>The enrolled agents and their tokens, loaded from a token file.</summary>
/// <remarks>
/// File format, one agent per line: <c>AGENT_ID TOKEN</c> or <c>AGENT_ID sha256:HEX</c>
/// (the SHA-256 of the token, so the file need not hold secrets). Blank lines and lines
/// starting with <c>#</c> are ignored. Only SHA-256 digests are kept in memory; a presented
/// token is hashed and looked up, and the digests are compared in constant time.
/// </remarks>
internal sealed class AgentTokens
{
    private const string HashPrefix = "sha256:";
    private readonly Dictionary<string, (string AgentId, byte[] Digest)> _byDigestHex;

    private AgentTokens(Dictionary<string, (string, byte[])> byDigestHex) => _byDigestHex = byDigestHex;

    public int Count => _byDigestHex.Count;

    /// <summary>Reads and parses a token file; one that group or others can read or write is refused (<see cref="SecretFile"/>).</summary>
    /// <exception cref="FormatException">The file cannot be read, is open to others, or has a bad line; the message names the file.</exception>
    public static AgentTokens Load(string path)
    {
        return Parse(SecretFile.ReadAllText(path, "token file"), path);
    }

    public static AgentTokens Parse(string text, string source = "tokens")
    {
        var map = new Dictionary<string, (string, byte[])>(StringComparer.Ordinal);
        var agents = new HashSet<string>(StringComparer.Ordinal);
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
            if (parts.Length != 2)
            {
                throw new FormatException($"{source} line {lineNo}: expected 'AGENT_ID TOKEN' or 'AGENT_ID sha256:HEX', got {parts.Length} fields");
            }
            string agentId = parts[0];
            if (!Ingest.BatchValidator.IsValidAgentId(agentId))
            {
                throw new FormatException($"{source} line {lineNo}: agent id '{agentId}' is not valid (1-128 characters of A-Z a-z 0-9 . _ : -)");
            }
            if (!agents.Add(agentId))
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
        return new AgentTokens(map);
    }

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

    private static byte[] Digest(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));
}
