using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Sluice.Protocol.Policies;

namespace Sluice.Agent.Policy;

/// <summary>
/// The last central policy the agent put in force, kept in StateDirectory/policy.json (mode 0600,
/// written atomically: temp file, fsync, rename, fsync of the directory) so that a restart with the
/// collector out of reach runs it again rather than the local files.
/// </summary>
internal sealed class LastGoodPolicy
{
    public const string FileName = "policy.json";

    public int Version { get; set; } = 1;

    /// <summary>The policy's hash (<see cref="PolicyDigest"/>), checked again when the file is read.</summary>
    public string Hash { get; set; } = "";

    /// <summary>The group it came from ("" for the default group).</summary>
    public string Group { get; set; } = "";

    public string Rules { get; set; } = "";

    public string Filters { get; set; } = "";

    /// <summary>When the collector's operator set it.</summary>
    public long SetUnixMs { get; set; }

    /// <summary>When this agent put it in force.</summary>
    public DateTimeOffset AppliedUtc { get; set; }

    public static string PathIn(string directory) => Path.Combine(directory, FileName);

    /// <summary>Writes the file atomically, 0600, in a directory only its owner can enter.</summary>
    public void Save(string directory, ILogger logger)
    {
        Spool.PrivateFiles.EnsureDirectory(directory, logger);
        Spool.PrivateFiles.WriteAtomically(PathIn(directory), JsonSerializer.SerializeToUtf8Bytes(this, LastGoodPolicyJson.Default.LastGoodPolicy));
    }

    /// <summary>Reads the file; null when there is none.</summary>
    /// <exception cref="InvalidDataException">The file is there but unreadable, not a policy file, or its content does not match its hash.</exception>
    public static LastGoodPolicy? Load(string directory)
    {
        string path = PathIn(directory);
        if (!File.Exists(path))
        {
            return null;
        }
        LastGoodPolicy policy;
        try
        {
            policy = JsonSerializer.Deserialize(File.ReadAllBytes(path), LastGoodPolicyJson.Default.LastGoodPolicy)
                ?? throw new InvalidDataException($"{path} is empty");
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"{path} cannot be read as a policy file: {e.Message}", e);
        }
        if (policy.Version != 1)
        {
            throw new InvalidDataException($"{path}: version {policy.Version} is not supported");
        }
        string computed = PolicyDigest.Compute(policy.Rules ?? "", policy.Filters ?? "");
        if (!string.Equals(computed, policy.Hash, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{path}: its rules and filters do not match its hash {Short(policy.Hash)} (they hash to {Short(computed)}): the file was changed or damaged");
        }
        return policy;
    }

    /// <summary>The first 12 hex digits of a policy hash, as status and logs show it.</summary>
    public static string Short(string? hash) => string.IsNullOrEmpty(hash) ? "" : hash.Length <= 12 ? hash : hash[..12];
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(LastGoodPolicy))]
internal sealed partial class LastGoodPolicyJson : JsonSerializerContext;
