using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sluice.Audit.Netlink;
using Sluice.Audit.Rules;

namespace Sluice.Agent.Kernel;

/// <summary>
/// What the host looked like before the agent changed anything: the kernel's audit settings
/// and rules, and whether auditd ran. Written to kernel-state.json (mode 0600) before the
/// first change, removed after a clean restore; a file left behind means a crashed run.
/// </summary>
internal sealed class KernelState
{
    public const string FileName = "kernel-state.json";

    public int Version { get; set; } = 1;

    public DateTimeOffset CreatedUtc { get; set; }

    /// <summary>The agent process that wrote the file.</summary>
    public int AgentPid { get; set; }

    public uint Enabled { get; set; }

    public uint Failure { get; set; }

    public uint RateLimit { get; set; }

    public uint BacklogLimit { get; set; }

    public uint? BacklogWaitTime { get; set; }

    /// <summary>The loaded rules, as base64 of their audit_rule_data bytes, in kernel order.</summary>
    public List<string> Rules { get; set; } = new();

    /// <summary>The consumer registered at start (0 if none) and its name.</summary>
    public uint ConsumerPid { get; set; }

    public string? ConsumerComm { get; set; }

    /// <summary>auditd was running and the agent stopped it: start it again at the end.</summary>
    public bool AuditdWasRunning { get; set; }

    /// <summary>systemd units the agent disabled, to enable again at the end.</summary>
    public List<string> DisabledUnits { get; set; } = new();

    [JsonIgnore]
    public IReadOnlyList<KernelRule> KernelRules => Rules.Select(r => KernelRule.FromBytes(Convert.FromBase64String(r))).ToList();

    public static KernelState Capture(AuditStatus status, IReadOnlyList<KernelRule> rules, TimeProvider time) => new()
    {
        CreatedUtc = time.GetUtcNow(),
        AgentPid = Environment.ProcessId,
        Enabled = status.Enabled,
        Failure = status.Failure,
        RateLimit = status.RateLimit,
        BacklogLimit = status.BacklogLimit,
        BacklogWaitTime = status.BacklogWaitTime,
        Rules = rules.Select(r => Convert.ToBase64String(r.Bytes)).ToList(),
        ConsumerPid = status.Pid,
        ConsumerComm = ProcessNames.Comm(status.Pid),
    };

    /// <summary>
    /// Writes atomically: temp file, fsync, rename; mode 0600 (it lists the host's rules), in a
    /// directory that only its owner can enter (0700; a looser one is tightened, and logged).
    /// </summary>
    public void Save(string directory, ILogger? logger = null)
    {
        Spool.PrivateFiles.EnsureDirectory(directory, logger ?? NullLogger.Instance);
        string path = Path.Combine(directory, FileName);
        Spool.PrivateFiles.WriteAtomically(path, JsonSerializer.SerializeToUtf8Bytes(this, KernelStateJson.Default.KernelState));
    }

    /// <summary>Reads the state file, or null if there is none.</summary>
    /// <exception cref="InvalidDataException">The file exists but cannot be understood.</exception>
    public static KernelState? Load(string directory)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
        {
            return null;
        }
        try
        {
            using var stream = File.OpenRead(path);
            return JsonSerializer.Deserialize(stream, KernelStateJson.Default.KernelState)
                ?? throw new InvalidDataException($"{path} is empty");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not a valid state file: {e.Message}", e);
        }
    }

    /// <summary>Removes the state file, and the serial watermark with it: audit is given back, so the next start counts no gap from before.</summary>
    public static void Delete(string directory)
    {
        Pipeline.SerialWatermark.Delete(directory);
        File.Delete(Path.Combine(directory, FileName));
    }
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(KernelState))]
internal sealed partial class KernelStateJson : JsonSerializerContext;
