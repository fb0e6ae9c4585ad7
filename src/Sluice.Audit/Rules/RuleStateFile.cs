using System.Text.Json;
using System.Text.Json.Serialization;

namespace Sluice.Audit.Rules;

/// <summary>
/// The rules Sluice itself added to the kernel, kept across runs so that a later load deletes
/// only its own rules. JSON with the base64 audit_rule_data of each rule (as the kernel lists
/// it), written atomically with mode 0600.
/// </summary>
internal static partial class RuleStateFile
{
    internal sealed class State
    {
        [JsonPropertyName("version")]
        public int Version { get; set; } = 1;

        [JsonPropertyName("rules")]
        public List<string> Rules { get; set; } = [];
    }

    /// <summary>Reads the state; a missing file means Sluice has added nothing.</summary>
    /// <exception cref="InvalidDataException">The file exists but is not a state file.</exception>
    public static HashSet<KernelRule> Load(string path)
    {
        if (!File.Exists(path))
        {
            return [];
        }
        try
        {
            var state = JsonSerializer.Deserialize(File.ReadAllText(path), RuleStateJson.Default.State)
                ?? throw new InvalidDataException("empty");
            if (state.Version != 1)
            {
                throw new InvalidDataException($"version {state.Version} is not supported");
            }
            return [.. state.Rules.Select(r => KernelRule.FromBytes(Convert.FromBase64String(r)))];
        }
        catch (Exception e) when (e is JsonException or FormatException or ArgumentException or InvalidDataException)
        {
            throw new InvalidDataException($"the rules state file {path} is not valid ({e.Message}); " +
                "move it away to start over (Sluice will then treat the loaded rules as not its own)", e);
        }
    }

    /// <summary>Writes the state: temp file, fsync, rename; mode 0600 from creation on.</summary>
    public static void Save(string path, IEnumerable<KernelRule> rules)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("kernel audit rules exist only on Linux");
        }
        var state = new State { Rules = [.. rules.Select(r => Convert.ToBase64String(r.Bytes))] };
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null)
        {
            Directory.CreateDirectory(dir);
        }
        string temp = path + ".tmp";
        var options = new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        };
        using (var stream = new FileStream(temp, options))
        {
            JsonSerializer.Serialize(stream, state, RuleStateJson.Default.State);
            stream.Flush(flushToDisk: true);
        }
        // A pre-existing temp file keeps its old mode; force it.
        File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>The state file's JSON, generated at build time (no reflection: the agent is compiled ahead of time).</summary>
    [JsonSerializable(typeof(State))]
    internal sealed partial class RuleStateJson : JsonSerializerContext;
}
