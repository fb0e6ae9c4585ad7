using System.Diagnostics;
using Sluice.Audit.Netlink;
using Sluice.Audit.Rules;

namespace Sluice.Benchmarks.Harness;

/// <summary>
/// What every consumer of one trial gets: the same rule, key, kernel settings, and a directory of
/// its own. <see cref="Syscall"/> is the audited syscall's name: an event counts as delivered when it
/// is that syscall's event with the key (the rule's own CONFIG_CHANGE event carries the key too).
/// </summary>
public sealed record TrialContext(
    string Key,
    string Syscall,
    string RuleText,
    KernelRule Rule,
    string Directory,
    uint BacklogLimit,
    uint BacklogWaitTime,
    AuditControlClient Control);

/// <summary>One audit consumer under test.</summary>
public interface IConsumer : IDisposable
{
    string Name { get; }

    /// <summary>Starts it; returns once it is the registered consumer and the trial's rule is in the kernel.</summary>
    void Start(TrialContext trial, CancellationToken cancel);

    /// <summary>Processes whose CPU and peak RSS are the consumer's (summed when several).</summary>
    IReadOnlyList<int> ConsumerPids { get; }

    /// <summary>Processes reported apart (Sluice's collector).</summary>
    IReadOnlyList<int> CollectorPids { get; }

    /// <summary>Events with the trial's key that reached the consumer's output so far.</summary>
    long Delivered();

    /// <summary>Anything worth a footnote, read just before <see cref="Stop"/> (e.g. the agent's own loss counters).</summary>
    string? Details();

    /// <summary>Stops it and removes the trial's rule; the kernel is left with no consumer registered.</summary>
    void Stop();
}

/// <summary>Helpers shared by the consumers.</summary>
public static class ConsumerWait
{
    /// <summary>Waits until the kernel's registered consumer is <paramref name="pid"/>.</summary>
    public static void Registered(AuditControlClient control, ChildProcess process, int pid, TimeSpan timeout, CancellationToken cancel)
    {
        var sw = Stopwatch.StartNew();
        while (control.GetStatus().Pid != (uint)pid)
        {
            process.ThrowIfExited("starting (not yet the registered audit consumer)");
            cancel.ThrowIfCancellationRequested();
            if (sw.Elapsed > timeout)
            {
                throw new TimeoutException($"{process.Name} did not register as the audit consumer within {timeout.TotalSeconds:0} s " +
                    $"(registered pid: {control.GetStatus().Pid}); its last output:\n{process.Output}");
            }
            Thread.Sleep(50);
        }
    }

    /// <summary>Waits until the kernel's registered consumer is no one (after a stop).</summary>
    public static void Unregistered(AuditControlClient control, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (control.GetStatus().Pid != 0 && sw.Elapsed < timeout)
        {
            Thread.Sleep(50);
        }
    }

    /// <summary>True when the kernel has <paramref name="rule"/> loaded.</summary>
    public static bool RuleLoaded(AuditControlClient control, KernelRule rule)
    {
        var listed = RuleNormalizer.AsListed(rule);
        return control.ListRules().Any(r => r.Equals(listed) || r.Equals(rule));
    }

    /// <summary>Deletes the rule if it is loaded (best effort: the harness's final clean-up checks again).</summary>
    public static void DeleteRule(AuditControlClient control, KernelRule rule)
    {
        try
        {
            control.DeleteRule(rule);
        }
        catch (AuditException)
        {
            // Not loaded (ENOENT), or the agent already deleted it.
        }
    }
}
