using Sluice.Audit.Tables;

namespace Sluice.Audit.Rules;

/// <summary>Settings of the compiler that depend on the host the rules are for.</summary>
public sealed class RuleParserOptions
{
    /// <summary>The machine arch: what b64/b32 mean, and the syscall table used when a rule has no <c>-F arch</c>.</summary>
    public uint MachineArch { get; init; } = AuditArch.Machine;

    /// <summary>Resolves user names in uid fields (default: /etc/passwd).</summary>
    public Func<string, uint?> ResolveUser { get; init; } = AccountNames.UserId;

    /// <summary>Resolves group names in gid fields (default: /etc/group).</summary>
    public Func<string, uint?> ResolveGroup { get; init; } = AccountNames.GroupId;

    /// <summary>
    /// Whether a <c>-w</c> path is a directory: auditctl then watches the tree (AUDIT_DIR)
    /// rather than the path (AUDIT_WATCH). Default: the local file system.
    /// </summary>
    public Func<string, bool> IsDirectory { get; init; } = Directory.Exists;

    public static RuleParserOptions Default { get; } = new();
}

/// <summary>
/// Parses the auditctl rule language (audit.rules) and compiles each rule to the
/// audit_rule_data auditctl would send. Refuses, with file, line, token and reason, what
/// auditctl or the kernel would refuse.
/// </summary>
/// <remarks>
/// Judged against auditctl 3.0.x on a 6.x kernel. Deliberate differences:
/// <list type="bullet">
/// <item>numbers that do not fit in 32 bits are refused (auditctl truncates them), and so is
/// trailing text after a number ("5abc");</item>
/// <item>-S also accepts the kernel headers' syscall names where libaudit spells them
/// otherwise (pread64, i386 kexec_load);</item>
/// <item>-F key!=... is refused: a key labels a rule, it is not a condition;</item>
/// <item>a second identical rule is refused at parse time (the kernel would answer EEXIST);</item>
/// <item>the io_uring list is accepted with operation numbers (auditctl 3.0.x predates it);</item>
/// <item>kernel refusals that depend on the host at load time (a dir= that does not exist,
/// a watch whose parent directory does not exist) surface when loading, naming the line.</item>
/// </list>
/// Like auditctl, user and group names resolve on this host, and a -w path that is a directory
/// here becomes a tree watch (see <see cref="RuleParserOptions"/>).
/// </remarks>
public static partial class RuleParser
{
    /// <summary>Parses rules text. <paramref name="fileName"/> is only used in errors.</summary>
    public static RuleSet Parse(string text, string fileName = "<rules>", RuleParserOptions? options = null)
    {
        var acc = new Accumulator();
        ParseInto(acc, text, fileName, options ?? RuleParserOptions.Default);
        return acc.Finish();
    }

    /// <summary>Reads and parses rules files, in the order given, into one set.</summary>
    public static RuleSet ParseFiles(IEnumerable<string> paths, RuleParserOptions? options = null)
    {
        var acc = new Accumulator();
        foreach (var path in paths)
        {
            string text;
            try
            {
                text = File.ReadAllText(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                acc.Errors.Add(new RuleError(path, 0, null, $"cannot read the rules file: {e.Message}"));
                continue;
            }
            ParseInto(acc, text, path, options ?? RuleParserOptions.Default);
        }
        return acc.Finish();
    }

    private sealed class Accumulator
    {
        public readonly List<ParsedRule> Rules = [];
        public readonly List<RuleControl> Controls = [];
        public readonly List<RuleError> Errors = [];
        public readonly List<RuleError> Warnings = [];
        public readonly Dictionary<KernelRule, ParsedRule> Added = [];

        public RuleSet Finish() => new(Rules, Controls, Errors, Warnings);
    }

    private static void ParseInto(Accumulator acc, string text, string fileName, RuleParserOptions options)
    {
        int lineNo = 0;
        foreach (var rawLine in text.Split('\n'))
        {
            lineNo++;
            string line = rawLine.TrimEnd('\r');
            var tokens = Tokenize(line);
            if (tokens.Count == 0 || tokens[0].StartsWith('#'))
            {
                continue;
            }
            try
            {
                var parser = new LineParser(tokens, options, fileName, lineNo);
                parser.Run();
                if (parser.Rule is { } rule)
                {
                    var parsed = new ParsedRule(rule, parser.Operation, parser.Prepend, fileName, lineNo, line.Trim());
                    if (parsed.Operation == RuleOperation.Add)
                    {
                        // The kernel refuses a second identical rule with EEXIST, and auditctl stops there.
                        if (acc.Added.TryGetValue(parsed.Listed, out var first))
                        {
                            throw new RuleSyntaxException(null, $"duplicate of the rule at {first.File}:{first.Line}; the kernel refuses it (EEXIST)");
                        }
                        acc.Added.Add(parsed.Listed, parsed);
                    }
                    acc.Rules.Add(parsed);
                }
                acc.Controls.AddRange(parser.Controls);
                foreach (var (token, reason) in parser.Warnings)
                {
                    acc.Warnings.Add(new RuleError(fileName, lineNo, token, reason));
                }
            }
            catch (RuleSyntaxException e)
            {
                acc.Errors.Add(new RuleError(fileName, lineNo, e.Token, e.Message));
            }
        }
    }

    // auditctl -R splits a line on blanks; there is no quoting in the rules language.
    internal static List<string> Tokenize(string line) =>
        [.. line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)];
}

/// <summary>A refusal while parsing one line; becomes a <see cref="RuleError"/>.</summary>
internal sealed class RuleSyntaxException(string? token, string reason) : Exception(reason)
{
    public string? Token { get; } = token;
}
