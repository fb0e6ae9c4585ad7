using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Sluice.Agent.Configuration;
using Sluice.Audit.Netlink;
using Sluice.Audit.Rules;

namespace Sluice.Agent.Kernel;

/// <summary>
/// Loads Rules:Files with the rules compiler. Kernel settings come from agent.json (Kernel:*),
/// so the files' status lines (-b, -f, -r, --backlog_wait_time, -e) are reported and not
/// applied; "-e 2" is applied at the end only when Kernel:AllowImmutable is set.
/// </summary>
internal sealed partial class AgentRulesLoader(AgentOptions options, ILogger<AgentRulesLoader> logger) : IRulesLoader
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

    private RuleSet Parse()
    {
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
        var result = RuleLoader.Apply(control, set, new RuleLoadOptions
        {
            StateFile = Path.Combine(options.StateDirectory, OwnedRulesFile),
            OwnAllRules = options.Rules.OwnAllRules,
            ApplyControls = false,
        });
        Log.Loaded(logger, UsesBuiltIn ? BuiltInName : string.Join(", ", options.Rules.EffectiveFiles), result.Added.Count, result.Kept.Count, result.Deleted.Count, result.Foreign.Count);
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

        [LoggerMessage(23, LogLevel.Warning, "Kernel audit set immutable (-e 2, allowed by Kernel:AllowImmutable): no setting or rule can change until reboot")]
        public static partial void Immutable(ILogger logger);
    }
}
