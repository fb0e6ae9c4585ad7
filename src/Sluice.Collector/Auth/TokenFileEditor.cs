using System.Security.Cryptography;
using System.Text;
using Sluice.Collector.Interop;

namespace Sluice.Collector.Auth;

/// <summary>Enrolls and revokes agents in a token file: <c>sluice-collector agents add</c> and <c>agents revoke</c>.</summary>
/// <remarks>
/// The file is never edited in place: its new content goes to a temporary file beside it, created 0600, given the
/// old file's owner, group and mode, flushed to disk, and renamed over it. A running collector (which looks at the
/// file's inode and times, <see cref="AgentTokenFile"/>) therefore sees either the old file or the new one, never
/// half of it, and the file keeps belonging to whoever it belonged to (e.g. the collector's user, when root edits
/// it). The rest of the file, comments included, is kept as it was. The file must parse before and after: a
/// broken file is reported with its line, not made worse.
/// </remarks>
internal static class TokenFileEditor
{
    /// <summary>Random bytes in a new token: 256 bits.</summary>
    public const int TokenBytes = 32;

    /// <summary>A new token: <see cref="TokenBytes"/> random bytes in base64url without padding (43 characters, no blanks).</summary>
    public static string NewToken() => Base64Url(RandomNumberGenerator.GetBytes(TokenBytes));

    private static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>Adds <c>NAME sha256:HEX group=G</c> for a new token and returns the token (the file never holds it).</summary>
    /// <exception cref="ArgumentException">A bad name or group, or the name is enrolled already.</exception>
    /// <exception cref="FormatException">The file cannot be read, is open to others, or has a bad line.</exception>
    /// <exception cref="IOException">The new file could not be written.</exception>
    public static string Add(string path, string agentId, string group)
    {
        if (!Ingest.BatchValidator.IsValidAgentId(agentId))
        {
            throw new ArgumentException($"agent name '{agentId}' is not valid (1-128 characters of A-Z a-z 0-9 . _ : -)");
        }
        if (!AgentTokens.IsValidGroup(group))
        {
            throw new ArgumentException($"group '{group}' is not valid (1-{AgentTokens.MaxGroupLength} characters of A-Z a-z 0-9 . _ -, starting with a letter or digit)");
        }
        string text = File.Exists(path) ? SecretFile.ReadAllText(path, "token file") : "";
        var tokens = AgentTokens.Parse(text, $"token file {path}");
        if (tokens.Agents.Contains(agentId, StringComparer.Ordinal))
        {
            throw new ArgumentException($"agent '{agentId}' is enrolled already in {path} (group {tokens.GroupOf(agentId)}); revoke it first to give it a new token");
        }
        string token = NewToken();
        string line = AgentTokens.HashedLine(agentId, token, group);
        string updated = text.Length == 0 || text.EndsWith('\n') ? text + line + "\n" : text + "\n" + line + "\n";
        // Checked as the collector will read it, before it replaces the file.
        AgentTokens.Parse(updated, $"token file {path}");
        Replace(path, updated);
        return token;
    }

    /// <summary>Removes the agent's line; returns its group.</summary>
    /// <exception cref="ArgumentException">No such agent in the file.</exception>
    /// <exception cref="FormatException">The file cannot be read, is open to others, or has a bad line.</exception>
    public static string Revoke(string path, string agentId)
    {
        string text = SecretFile.ReadAllText(path, "token file");
        var tokens = AgentTokens.Parse(text, $"token file {path}");
        if (!tokens.Agents.Contains(agentId, StringComparer.Ordinal))
        {
            throw new ArgumentException($"agent '{agentId}' is not enrolled in {path}");
        }
        var kept = new StringBuilder(text.Length);
        foreach (string line in text.Split('\n'))
        {
            string trimmed = line.Trim();
            bool agentLine = trimmed.Length > 0 && trimmed[0] != '#'
                && trimmed.Split((char[]?)null, 2, StringSplitOptions.RemoveEmptyEntries)[0] == agentId;
            if (!agentLine)
            {
                kept.Append(line).Append('\n');
            }
        }
        // Split gives one more piece than there are newlines.
        string updated = kept.ToString(0, kept.Length - 1);
        Replace(path, updated);
        return tokens.GroupOf(agentId);
    }

    /// <summary>Writes <paramref name="text"/> to a new file beside <paramref name="path"/> and renames it over it.</summary>
    private static void Replace(string path, string text)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full)!;
        var old = File.Exists(full) ? Files.Stat(full, out _) : null;
        UnixFileMode mode = File.Exists(full) ? File.GetUnixFileMode(full) : UnixFileMode.UserRead | UnixFileMode.UserWrite;
        string temp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}.tmp");
        try
        {
            using (var stream = new FileStream(temp, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                Share = FileShare.None,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            }))
            {
                var handle = stream.SafeFileHandle;
                if (old is { } o && (o.Uid != GetEuid() || o.Gid != GetEgid()))
                {
                    Files.ChangeOwner(handle, o.Uid, o.Gid);
                }
                File.SetUnixFileMode(handle, mode);
                byte[] bytes = Encoding.UTF8.GetBytes(text);
                RandomAccess.Write(handle, bytes, 0);
                RandomAccess.FlushToDisk(handle);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            File.Delete(temp);
            throw new IOException($"token file {path}: cannot write its new version: {e.Message}", e);
        }
    }

    private static uint GetEuid() => Files.EffectiveUid();

    private static uint GetEgid() => Files.EffectiveGid();
}
