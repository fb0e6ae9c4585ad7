using Sluice.Audit.Rules;
using Sluice.Audit.Tables;

namespace Sluice.Agent.Enrichment;

/// <summary>One group of syscalls the process table needs, on one arch, that the rules don't produce.</summary>
/// <param name="Purpose">"exec", "fork" or "exit".</param>
/// <param name="Missing">The syscalls of the group no rule produces (names).</param>
internal sealed record MissingRule(string Purpose, string ArchName, IReadOnlyList<string> Missing);

/// <summary>
/// Which of the events the process table feeds on (exec, fork, exit_group: docs/process-context.md,
/// "Rules it needs") the audit rules don't produce, and the minimal rules that would. It only
/// advises: the agent never adds a rule itself.
/// </summary>
/// <remarks>
/// A rule counts as producing a syscall's events when it is on the exit list with action always, has
/// the syscall in its mask, and no field other than arch (equal to the arch asked) and key: a rule that
/// filters (<c>-F auid&gt;=1000</c>, <c>-F success=1</c>) gives only some of them. A <c>never</c> rule
/// before it is not considered.
/// </remarks>
internal static class RuleAdvisor
{
    /// <summary>The key the suggested rules carry.</summary>
    public const string Key = "sluice-process";

    // include/uapi/linux/audit.h
    private const uint FilterExit = 0x04, Always = 2, Equal = 0x40000000, ArchField = 11, KeyField = 210;

    private static readonly (string Purpose, string[] Syscalls, string Why)[] Groups =
    [
        ("exec", ["execve", "execveat"], "exec: the program, argv and cwd of each new image; children's events name it as their parent with this event's serial"),
        ("fork", ["clone", "clone3", "fork", "vfork"], "fork: who forked whom, the real parent kept after the kernel reparents an orphan; clone with CLONE_THREAD makes threads and is ignored"),
        ("exit", ["exit_group"], "exit: when a process ends, so its entry is kept Enrichment:KeepExitedSeconds for its children's events, then freed"),
    ];

    /// <summary>The arches the rules should cover on this machine: the native one, and i386 on x86_64 (32-bit programs).</summary>
    public static IReadOnlyList<uint> Arches(uint machine) => machine == AuditArch.X86_64 ? [AuditArch.X86_64, AuditArch.I386] : [machine];

    public static IReadOnlyList<MissingRule> Missing(IEnumerable<KernelRule> rules, uint machine)
    {
        var list = rules.ToList();
        var missing = new List<MissingRule>();
        foreach (uint arch in Arches(machine))
        {
            foreach (var (purpose, syscalls, _) in Groups)
            {
                var absent = syscalls.Where(name => SyscallTable.TryGetNumber(arch, name, out int nr) && !list.Any(r => Produces(r, arch, machine, nr))).ToList();
                if (absent.Count > 0)
                {
                    missing.Add(new MissingRule(purpose, ArchFlag(arch, machine), absent));
                }
            }
        }
        return missing;
    }

    /// <summary>True when <paramref name="rule"/> gives every event of syscall <paramref name="nr"/> on <paramref name="arch"/>.</summary>
    public static bool Produces(KernelRule rule, uint arch, uint machine, int nr)
    {
        if (rule.List != FilterExit || rule.Action != Always || (rule.Mask(nr / 32) & (1u << (nr % 32))) == 0)
        {
            return false;
        }
        bool archSeen = false;
        for (int i = 0; i < rule.FieldCount; i++)
        {
            uint field = rule.Field(i);
            if (field == KeyField)
            {
                continue;
            }
            if (field == ArchField && rule.Operator(i) == Equal)
            {
                if (rule.Value(i) != arch)
                {
                    return false;
                }
                archSeen = true;
                continue;
            }
            return false;
        }
        // Without -F arch the syscall numbers are the machine's.
        return archSeen || arch == machine;
    }

    /// <summary>The suggested rules in auditctl syntax, each after a comment line that says what it is for; empty when nothing is missing.</summary>
    public static string Suggest(IReadOnlyList<MissingRule> missing)
    {
        var text = new System.Text.StringBuilder();
        foreach (var m in missing)
        {
            string why = Groups.First(g => g.Purpose == m.Purpose).Why;
            text.Append("# ").Append(why).Append(" (").Append(m.ArchName).Append(")\n");
            text.Append("-a always,exit -F arch=").Append(m.ArchName);
            foreach (string s in m.Missing)
            {
                text.Append(" -S ").Append(s);
            }
            text.Append(" -k ").Append(Key).Append('\n');
        }
        return text.ToString();
    }

    /// <summary>What the start-up warning names: "exec (b64: execve, execveat), fork (b32: clone)".</summary>
    public static string Describe(IReadOnlyList<MissingRule> missing) =>
        string.Join(", ", missing.Select(m => $"{m.Purpose} ({m.ArchName}: {string.Join(", ", m.Missing)})"));

    private static string ArchFlag(uint arch, uint machine) => arch == machine ? "b64" : "b32";
}
