using Sluice.Audit.Netlink;
using Sluice.Audit.Rules;

namespace Sluice.Agent.Kernel;

/// <summary>Loads the configured rules files into the kernel, as the agent's policy allows.</summary>
internal interface IRulesLoader
{
    /// <summary>Parses the configured files without touching the kernel.</summary>
    /// <exception cref="RulesFileException">Any error in any file: nothing will be loaded.</exception>
    void Validate();

    /// <summary>Applies control lines and rules; returns the rules the agent now keeps loaded.</summary>
    IReadOnlyList<KernelRule> Load(AuditControlClient control);

    /// <summary>Replaces the rules in force with a central policy's, all or nothing (rolled back exactly on any refusal).</summary>
    /// <exception cref="Policy.PolicyRefusedException">A rule was refused; the rules in force are as they were.</exception>
    IReadOnlyList<KernelRule> Replace(AuditControlClient control, RuleSet set);

    /// <summary>A short hash of the rules in force, for heartbeats and coverage reports.</summary>
    string Hash { get; }
}

/// <summary>A rules file cannot be used; the message lists every error with file, line, token and reason.</summary>
internal sealed class RulesFileException(string message) : Exception(message);
