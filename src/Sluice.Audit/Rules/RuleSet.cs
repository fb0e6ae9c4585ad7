namespace Sluice.Audit.Rules;

/// <summary>Why one line of a rules file was refused: file, line, the offending token and the reason.</summary>
public sealed record RuleError(string File, int Line, string? Token, string Reason)
{
    public override string ToString() => Token is null
        ? $"{File}:{Line}: {Reason}"
        : $"{File}:{Line}: '{Token}': {Reason}";
}

/// <summary>Whether a rule line adds (<c>-a</c>, <c>-A</c>, <c>-w</c>) or deletes (<c>-d</c>, <c>-W</c>) its rule.</summary>
public enum RuleOperation
{
    Add,
    Delete,
}

/// <summary>One compiled rule and where it came from.</summary>
/// <param name="Rule">The bytes auditctl would send for this line.</param>
/// <param name="Prepend">True for <c>-A</c>: the kernel puts the rule first in its list.</param>
public sealed record ParsedRule(KernelRule Rule, RuleOperation Operation, bool Prepend, string File, int Line, string Text)
{
    /// <summary>The rule as the kernel stores and lists it back (see <see cref="RuleNormalizer"/>).</summary>
    public KernelRule Listed { get; } = RuleNormalizer.AsListed(Rule);
}

/// <summary>The control options of auditctl that may appear in a rules file.</summary>
public enum RuleControlKind
{
    /// <summary><c>-D</c> (optionally with <c>-k KEY</c>): delete rules.</summary>
    DeleteAll,
    /// <summary><c>-b N</c>: backlog_limit.</summary>
    BacklogLimit,
    /// <summary><c>-f 0|1|2</c>: failure mode (2 panics the machine).</summary>
    FailureMode,
    /// <summary><c>-e 0|1|2</c>: enabled (2 locks the configuration until reboot).</summary>
    Enabled,
    /// <summary><c>-r N</c>: rate_limit in messages per second.</summary>
    RateLimit,
    /// <summary><c>--backlog_wait_time N</c> in jiffies.</summary>
    BacklogWaitTime,
    /// <summary><c>--loginuid-immutable</c>.</summary>
    LoginUidImmutable,
    /// <summary><c>-i</c>: ignore errors from the kernel while loading.</summary>
    IgnoreErrors,
    /// <summary><c>-c</c>: continue loading after a kernel error.</summary>
    ContinueOnError,
}

/// <summary>One control option of a rules file.</summary>
/// <param name="Key">For <see cref="RuleControlKind.DeleteAll"/>: only rules with this key, when given.</param>
public sealed record RuleControl(RuleControlKind Kind, uint Value, string? Key, string File, int Line);

/// <summary>
/// The result of parsing one or more rules files: the rules (in file order), the control
/// options, and every error. A set with any error must not be loaded at all.
/// </summary>
public sealed class RuleSet
{
    internal RuleSet(IReadOnlyList<ParsedRule> rules, IReadOnlyList<RuleControl> controls, IReadOnlyList<RuleError> errors,
        IReadOnlyList<RuleError> warnings)
    {
        Rules = rules;
        Controls = controls;
        Errors = errors;
        Warnings = warnings;
    }

    /// <summary>Every rule line, additions and deletions, in file order.</summary>
    public IReadOnlyList<ParsedRule> Rules { get; }

    public IReadOnlyList<RuleControl> Controls { get; }

    public IReadOnlyList<RuleError> Errors { get; }

    /// <summary>Lines accepted, as auditctl accepts them, that probably do not do what was meant.</summary>
    public IReadOnlyList<RuleError> Warnings { get; }

    public bool IsValid => Errors.Count == 0;

    /// <summary>The rules to add, in the order the kernel will list them once loaded into an empty kernel.</summary>
    public IReadOnlyList<ParsedRule> InKernelOrder()
    {
        // The kernel lists rules list by list; -A puts a rule at the head of its list, -a at the
        // tail (docs/kernel-audit.md, "Rules").
        var result = new List<ParsedRule>();
        foreach (var group in Rules.Where(r => r.Operation == RuleOperation.Add).GroupBy(r => r.Listed.List).OrderBy(g => g.Key))
        {
            var list = new LinkedList<ParsedRule>();
            foreach (var rule in group)
            {
                if (rule.Prepend)
                {
                    list.AddFirst(rule);
                }
                else
                {
                    list.AddLast(rule);
                }
            }
            result.AddRange(list);
        }
        return result;
    }
}
