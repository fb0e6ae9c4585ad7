using Microsoft.Extensions.Logging;
using Sluice.Agent.Configuration;

namespace Sluice.Agent.Policy;

/// <summary>Where the rules and filters in force came from, as status shows it.</summary>
internal static class PolicySources
{
    /// <summary>Rules:Files and Filters of agent.json: no central policy was ever put in force (or Policy:Enabled is false).</summary>
    public const string Local = "local files";

    /// <summary>A central policy received from the collector in a heartbeat reply.</summary>
    public const string Central = "central";

    /// <summary>The last good central policy, read from StateDirectory/policy.json at start (the collector has not confirmed it since).</summary>
    public const string LastGood = "last good from disk";
}

/// <summary>What status shows of the central policy; all empty strings when there is nothing to say.</summary>
internal sealed record PolicyStatus
{
    /// <summary>One of <see cref="PolicySources"/>.</summary>
    public string Source { get; init; } = PolicySources.Local;

    /// <summary>The hash of the central policy in force; empty with local files.</summary>
    public string Hash { get; init; } = "";

    /// <summary>The group the policy in force is for ("" for the default group).</summary>
    public string Group { get; init; } = "";

    /// <summary>When the policy in force was put in force by this agent (unset with local files).</summary>
    public DateTimeOffset? AppliedUtc { get; init; }

    /// <summary>The hash of the last policy refused, until a different one is put in force.</summary>
    public string RefusedHash { get; init; } = "";

    /// <summary>Why it was refused: "policy:LINE: reason" as for a local rules file, or the check that failed.</summary>
    public string Refusal { get; init; } = "";

    public DateTimeOffset? RefusedUtc { get; init; }

    /// <summary>Anything else status should say: the collector holds no policy for the group, the file on disk was unusable, ...</summary>
    public string Note { get; init; } = "";
}

/// <summary>
/// The agent's central policy state: the one in force (and where from), the last refusal, and the
/// last good policy read from disk at start. Heartbeats report it, status shows it.
/// </summary>
internal sealed partial class PolicyState
{
    private readonly AgentOptions _options;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Lazy<CompiledPolicy?> _startup;
    private PolicyStatus _status = new();

    public PolicyState(AgentOptions options, ILogger<PolicyState> logger, Monitoring.AgentMetrics? metrics = null)
    {
        _options = options;
        _logger = logger;
        _startup = new Lazy<CompiledPolicy?>(LoadLastGood);
        if (metrics is not null)
        {
            metrics.PolicyStatus = () => Status;
        }
    }

    /// <summary>
    /// The last good central policy on disk, compiled, when there is one and Policy:Enabled: the
    /// agent starts with it instead of Rules:Files and Filters. Null otherwise (the reason, when the
    /// file was there but unusable, is logged and shown in status).
    /// </summary>
    public CompiledPolicy? Startup => _startupRefused ? null : _startup.Value;

    private volatile bool _startupRefused;

    /// <summary>
    /// The kernel refused a rule of the last good policy at start (a watched directory gone since,
    /// say): the agent runs its local files instead, and status says why. From then on
    /// <see cref="Startup"/> is null, so the filters are the local ones too.
    /// </summary>
    public void StartupRefused(string reason)
    {
        var startup = _startup.Value;
        _startupRefused = true;
        string why = $"the last good policy {LastGoodPolicy.Short(startup?.Hash)} on disk was refused by the kernel at start ({reason}); running the local files";
        Log.Unusable(_logger, why);
        lock (_lock)
        {
            _status = new PolicyStatus { Note = why };
        }
    }

    public PolicyStatus Status
    {
        get
        {
            lock (_lock)
            {
                return _status;
            }
        }
    }

    /// <summary>The hash of the central policy in force, for heartbeats; empty with local files.</summary>
    public string Hash => Status.Hash;

    /// <summary>Records <paramref name="policy"/> as in force, from <paramref name="source"/>; a refusal before it is history.</summary>
    public void InForce(CompiledPolicy policy, string source, DateTimeOffset applied)
    {
        lock (_lock)
        {
            _status = new PolicyStatus { Source = source, Hash = policy.Hash, Group = policy.Group, AppliedUtc = applied };
        }
    }

    /// <summary>Records a refusal; the policy in force stays.</summary>
    public void Refused(string hash, string reason, DateTimeOffset at)
    {
        lock (_lock)
        {
            _status = _status with { RefusedHash = hash, Refusal = reason, RefusedUtc = at };
        }
    }

    /// <summary>The collector confirms the policy in force is its group's: it is central from now on, whatever it was read from.</summary>
    public void Confirmed(string group)
    {
        lock (_lock)
        {
            _status = _status with { Source = PolicySources.Central, Group = group, Note = "" };
        }
    }

    /// <summary>Sets (or, with "", clears) the note status shows.</summary>
    public void SetNote(string note)
    {
        lock (_lock)
        {
            _status = _status with { Note = note };
        }
    }

    private CompiledPolicy? LoadLastGood()
    {
        if (!_options.Policy.Enabled || _options.Mode != AgentMode.Unicast)
        {
            return null; // Multicast loads no rules: a central policy is never in force there
        }
        string path = LastGoodPolicy.PathIn(_options.StateDirectory);
        LastGoodPolicy? saved;
        try
        {
            saved = LastGoodPolicy.Load(_options.StateDirectory);
        }
        catch (InvalidDataException e)
        {
            Log.Unusable(_logger, e.Message);
            SetNote($"the last good policy on disk is unusable ({e.Message}); running the local files");
            return null;
        }
        if (saved is null)
        {
            return null;
        }
        CompiledPolicy compiled;
        try
        {
            compiled = PolicyCompiler.Compile(saved.Hash, saved.Group, saved.Rules, saved.Filters);
        }
        catch (PolicyRefusedException e)
        {
            string reason = $"{path}: the policy {LastGoodPolicy.Short(saved.Hash)} no longer compiles on this host: {e.Message}";
            Log.Unusable(_logger, reason);
            SetNote($"the last good policy on disk is unusable ({reason}); running the local files");
            return null;
        }
        Log.LastGood(_logger, LastGoodPolicy.Short(saved.Hash), GroupName(saved.Group), path);
        lock (_lock)
        {
            _status = new PolicyStatus { Source = PolicySources.LastGood, Hash = saved.Hash, Group = saved.Group, AppliedUtc = saved.AppliedUtc };
        }
        return compiled;
    }

    /// <summary>A group as messages name it: the default group has no name on the wire.</summary>
    public static string GroupName(string group) => string.IsNullOrEmpty(group) ? "default" : group;

    private static partial class Log
    {
        [LoggerMessage(130, LogLevel.Information, "Central policy {Hash} (group {Group}), the last good one, read from {Path}: its rules and filters are used, not Rules:Files and Filters")]
        public static partial void LastGood(ILogger logger, string hash, string group, string path);

        [LoggerMessage(131, LogLevel.Error, "The last good central policy cannot be used: {Reason}. Using the local rules files and filters")]
        public static partial void Unusable(ILogger logger, string reason);
    }
}
