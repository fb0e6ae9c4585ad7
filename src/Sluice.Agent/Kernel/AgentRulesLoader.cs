using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Sluice.Agent.Configuration;
using Sluice.Agent.Policy;
using Sluice.Audit.Netlink;
using Sluice.Audit.Rules;

namespace Sluice.Agent.Kernel;

/// <summary>
/// Loads Rules:Files with the rules compiler. Kernel settings come from agent.json (Kernel:*),
/// so the files' status lines (-b, -f, -r, --backlog_wait_time, -e) are reported and not
/// applied; "-e 2" is applied at the end only when Kernel:AllowImmutable is set.
/// </summary>
/// <remarks>
/// With a last good central policy on disk (<see cref="PolicyState.Startup"/>), its rules are loaded
/// instead of Rules:Files; a central policy received later replaces the rules in force through
/// <see cref="Replace"/>, all or nothing.
/// </remarks>
internal sealed partial class AgentRulesLoader(AgentOptions options, ILogger<AgentRulesLoader> logger, PolicyState? policy = null) : IRulesLoader
{
    public const string OwnedRulesFile = "rules-state.json";

    private RuleSet? _set;
    private string _hash = "";

    public string Hash => _hash;

    public void Validate() => _set = Parse();

    /// <summary>Name under which the built-in baseline appears in messages.</summary>
    public const string BuiltInName = "<built-in baseline rules>";

    /// <summary>No rules file configured and none installed: the built-in baseline applies.</summary>
    private bool UsesBuiltIn => options.Rules.Files is null && !File.Exists(RulesOptions.DefaultFile);

    /// <summary>What the rules in force are called in messages: the files, the built-in baseline, or "policy".</summary>
    private string _source = "";

    private RuleSet Parse()
    {
        if (policy?.Startup is { } central)
        {
            _source = PolicyCompiler.RulesName;
            return central.Rules;
        }
        _source = UsesBuiltIn ? BuiltInName : string.Join(", ", options.Rules.EffectiveFiles);
        if (UsesBuiltIn)
        {
            using var stream = typeof(AgentRulesLoader).Assembly.GetManifestResourceStream("Sluice.Agent.baseline.rules")!;
            var builtIn = RuleParser.Parse(new StreamReader(stream).ReadToEnd(), BuiltInName);
            Log.BuiltIn(logger, RulesOptions.DefaultFile);
            return builtIn.IsValid ? builtIn : throw new RulesFileException(string.Join("\n  ", builtIn.Errors));
        }
        foreach (var file in options.Rules.EffectiveFiles)
        {
            if (!File.Exists(file))
            {
                throw new RulesFileException($"rules file {file}: not found (Rules:Files)");
            }
            try
            {
                using var probe = File.OpenRead(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new RulesFileException($"rules file {file}: cannot be read: {e.Message}");
            }
        }
        var set = RuleParser.ParseFiles(options.Rules.EffectiveFiles);
        if (!set.IsValid)
        {
            throw new RulesFileException($"the rules have {set.Errors.Count} error(s); nothing was loaded:\n  " + string.Join("\n  ", set.Errors));
        }
        return set;
    }

    public IReadOnlyList<KernelRule> Load(AuditControlClient control)
    {
        var set = _set ??= Parse();
        RuleLoadResult result;
        try
        {
            result = RuleLoader.Apply(control, set, LoadOptions);
        }
        catch (RuleLoadException e) when (policy?.Startup is { } central && ReferenceEquals(set, central.Rules))
        {
            // The last good policy was good on the host it was loaded on then; not now (nothing of
            // it stayed loaded). The local files are what the agent would run without it.
            policy.StartupRefused(e.Message);
            set = _set = Parse();
            result = RuleLoader.Apply(control, set, LoadOptions);
        }
        return Report(control, set, _source, result);
    }

    private RuleLoadOptions LoadOptions => new()
    {
        StateFile = Path.Combine(options.StateDirectory, OwnedRulesFile),
        OwnAllRules = options.Rules.OwnAllRules,
        ApplyControls = false,
    };

    /// <summary>
    /// Replaces the rules in force with <paramref name="set"/> (a central policy's), all or nothing:
    /// adds what is new, deletes what is gone; if the kernel refuses any rule (with or without -i/-c in
    /// the set), the kernel's rule list and the record of the agent's own rules are put back exactly
    /// as they were, and nothing of the set stays.
    /// </summary>
    /// <returns>The rules the agent now keeps loaded.</returns>
    /// <exception cref="PolicyRefusedException">The kernel refused a rule ("policy:LINE: the kernel refused the rule: ..."), or the load failed; rolled back.</exception>
    public IReadOnlyList<KernelRule> Replace(AuditControlClient control, RuleSet set)
    {
        var before = control.ListRules();
        string stateFile = LoadOptions.StateFile;
        byte[]? ownedBefore = File.Exists(stateFile) ? File.ReadAllBytes(stateFile) : null;
        string? refusal = null;
        RuleLoadResult? result = null;
        try
        {
            result = RuleLoader.Apply(control, set, LoadOptions);
            if (result.Failed.Count > 0)
            {
                // -i or -c let the load go on; a central policy is all or nothing all the same.
                var (rule, reason) = result.Failed[0];
                refusal = $"{rule.File}:{rule.Line}: the kernel refused the rule: {reason}"
                    + (result.Failed.Count > 1 ? $" (and {result.Failed.Count - 1} more)" : "");
            }
        }
        catch (RuleLoadException e)
        {
            refusal = e.Message;
        }
        catch (Exception e) when (e is AuditException or InvalidDataException or IOException)
        {
            refusal = $"loading the rules failed: {e.Message}";
        }
        if (refusal is not null)
        {
            try
            {
                RollBack(control, before, stateFile, ownedBefore);
                Log.RolledBack(logger, refusal, before.Count);
            }
            catch (Exception e) when (e is AuditException or IOException)
            {
                // Said with the refusal; the watchdog re-adds missing rules of the set in force.
                refusal += $"; putting the previous rules back failed: {e.Message}";
                Log.RollBackFailed(logger, e.Message);
            }
            throw new PolicyRefusedException(refusal);
        }
        _source = PolicyCompiler.RulesName;
        return Report(control, set, _source, result!);
    }

    /// <summary>Puts the kernel's rules back to <paramref name="before"/>, in its order, and the owned-rules record as it was.</summary>
    private static void RollBack(AuditControlClient control, IReadOnlyList<KernelRule> before, string stateFile, byte[]? ownedBefore)
    {
        RestoreExactly(control, before);
        if (ownedBefore is null)
        {
            File.Delete(stateFile);
        }
        else
        {
            Spool.PrivateFiles.WriteAtomically(stateFile, ownedBefore);
        }
    }

    /// <summary>
    /// Brings the kernel's rule list to <paramref name="wanted"/>, order included: per filter list,
    /// the rules after the longest common prefix are deleted, and the wanted ones added in order
    /// (a rule added goes to the end of its list).
    /// </summary>
    internal static void RestoreExactly(AuditControlClient control, IReadOnlyList<KernelRule> wanted)
    {
        var now = control.ListRules();
        if (now.SequenceEqual(wanted))
        {
            return;
        }
        foreach (uint list in wanted.Concat(now).Select(r => r.List).Distinct())
        {
            var want = wanted.Where(r => r.List == list).ToList();
            var have = now.Where(r => r.List == list).ToList();
            int same = 0;
            while (same < want.Count && same < have.Count && want[same].Equals(have[same]))
            {
                same++;
            }
            for (int i = same; i < have.Count; i++)
            {
                control.DeleteRule(have[i]);
            }
            for (int i = same; i < want.Count; i++)
            {
                control.AddRule(want[i]);
            }
        }
    }

    private IReadOnlyList<KernelRule> Report(AuditControlClient control, RuleSet set, string source, RuleLoadResult result)
    {
        Log.Loaded(logger, source, result.Added.Count, result.Kept.Count, result.Deleted.Count, result.Foreign.Count);
        foreach (var (rule, reason) in result.Failed)
        {
            Log.RuleFailed(logger, rule.File, rule.Line, reason);
        }
        foreach (var line in set.Controls)
        {
            bool status = line.Kind is RuleControlKind.BacklogLimit or RuleControlKind.FailureMode or RuleControlKind.RateLimit
                or RuleControlKind.BacklogWaitTime or RuleControlKind.Enabled;
            if (!status)
            {
                continue;
            }
            if (line.Kind == RuleControlKind.Enabled && line.Value == 2 && options.Kernel.AllowImmutable)
            {
                continue;
            }
            Log.ControlIgnored(logger, line.File, line.Line, line.Kind.ToString(), line.Value);
        }
        var loaded = result.Added.Concat(result.Kept).ToList();
        _hash = HashOf(loaded);
        if (set.Controls.Any(c => c.Kind == RuleControlKind.Enabled && c.Value == 2) && options.Kernel.AllowImmutable)
        {
            control.SetEnabled(2);
            Log.Immutable(logger);
        }
        return loaded;
    }

    /// <summary>Order-independent hash of a rule list: the first 16 hex digits of SHA-256 over the sorted rule bytes.</summary>
    public static string HashOf(IEnumerable<KernelRule> rules)
    {
        var sorted = rules.Select(r => Convert.ToHexString(r.Bytes)).Order(StringComparer.Ordinal);
        return Convert.ToHexString(SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(string.Join("\n", sorted))))[..16].ToLowerInvariant();
    }

    private static partial class Log
    {
        [LoggerMessage(20, LogLevel.Information, "Rules from {Files}: {Added} added, {Kept} already loaded, {Deleted} deleted, {Foreign} not ours left alone")]
        public static partial void Loaded(ILogger logger, string files, int added, int kept, int deleted, int foreign);

        [LoggerMessage(21, LogLevel.Error, "{File}:{Line}: the kernel refused the rule: {Reason}")]
        public static partial void RuleFailed(ILogger logger, string file, int line, string reason);

        [LoggerMessage(22, LogLevel.Information, "{File}:{Line}: control line {Kind} {Value} not applied: kernel settings come from agent.json Kernel:*")]
        public static partial void ControlIgnored(ILogger logger, string file, int line, string kind, uint value);

        [LoggerMessage(24, LogLevel.Information, "No rules file configured and no {Path}: loading the built-in baseline rules")]
        public static partial void BuiltIn(ILogger logger, string path);

        [LoggerMessage(25, LogLevel.Error, "Central policy refused: {Reason}. The rules are back as they were ({Count} loaded)")]
        public static partial void RolledBack(ILogger logger, string reason, int count);

        [LoggerMessage(26, LogLevel.Critical, "Putting the previous rules back after a refused central policy failed: {Message}")]
        public static partial void RollBackFailed(ILogger logger, string message);

        [LoggerMessage(23, LogLevel.Warning, "Kernel audit set immutable (-e 2, allowed by Kernel:AllowImmutable): no setting or rule can change until reboot")]
        public static partial void Immutable(ILogger logger);
    }
}
