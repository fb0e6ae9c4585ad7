using Sluice.Audit.Netlink;
using Sluice.Audit.Rules;

namespace Sluice.Testing;

/// <summary>The kernel's audit settings and rules at one moment, and how to go back to them.</summary>
public sealed class KernelSnapshot
{
    private KernelSnapshot(AuditStatus status, IReadOnlyList<KernelRule> rules)
    {
        Status = status;
        Rules = rules;
    }

    public AuditStatus Status { get; }

    public IReadOnlyList<KernelRule> Rules { get; }

    public static KernelSnapshot Take()
    {
        using var client = AuditControlClient.Open();
        return new KernelSnapshot(client.GetStatus(), client.ListRules());
    }

    /// <summary>
    /// Deletes the rules whose key starts with <see cref="TestRules.KeyPrefix"/>: under the
    /// <see cref="KernelLock"/> no test is running, so they were left by a test process that was
    /// killed before it could clean up. Returns their keys.
    /// </summary>
    public static IReadOnlyList<string> DeleteLeftoverTestRules()
    {
        using var client = AuditControlClient.Open();
        var removed = new List<string>();
        foreach (var rule in client.ListRules())
        {
            if (rule.Keys.Any(k => k.StartsWith(TestRules.KeyPrefix, StringComparison.Ordinal)))
            {
                client.DeleteRule(rule);
                removed.Add(string.Join(",", rule.Keys));
            }
        }
        return removed;
    }

    /// <summary>
    /// Deletes rules added since, re-adds rules deleted since, and sets every settable field
    /// back. Never sets enabled=2 or failure=2 (that would lock or endanger the machine).
    /// </summary>
    public void Restore()
    {
        using var client = AuditControlClient.Open();
        var now = client.GetStatus();
        if (now.IsImmutable)
        {
            throw new InvalidOperationException("a test left kernel audit immutable (enabled=2): only a reboot clears it");
        }
        var current = client.ListRules();
        foreach (var rule in current)
        {
            if (!Rules.Contains(rule))
            {
                client.DeleteRule(rule);
            }
        }
        foreach (var rule in Rules)
        {
            if (!current.Contains(rule))
            {
                client.AddRule(rule);
            }
        }
        if (now.Failure != Status.Failure && Status.Failure != 2)
        {
            client.SetFailure(Status.Failure);
        }
        if (now.RateLimit != Status.RateLimit)
        {
            client.SetRateLimit(Status.RateLimit);
        }
        if (now.BacklogLimit != Status.BacklogLimit)
        {
            client.SetBacklogLimit(Status.BacklogLimit);
        }
        if (Status.BacklogWaitTime is uint wait && now.BacklogWaitTime != wait)
        {
            client.SetBacklogWaitTime(wait);
        }
        if (now.Enabled != Status.Enabled && Status.Enabled != 2)
        {
            client.SetEnabled(Status.Enabled);
        }
        // lost cannot be set, only reset. A machine that had lost nothing before the tests
        // should have lost nothing after them: what tests lose on purpose is theirs.
        if (Status.Lost == 0 && now.Lost != 0)
        {
            client.ResetLost();
        }
    }

    /// <summary>Lists the differences from <paramref name="other"/>, for assertions.</summary>
    public IReadOnlyList<string> Differences(KernelSnapshot other)
    {
        var diffs = new List<string>();
        void Cmp(string name, object? a, object? b)
        {
            if (!Equals(a, b))
            {
                diffs.Add($"{name}: {a} -> {b}");
            }
        }
        Cmp("enabled", Status.Enabled, other.Status.Enabled);
        Cmp("failure", Status.Failure, other.Status.Failure);
        Cmp("pid", Status.Pid, other.Status.Pid);
        Cmp("rate_limit", Status.RateLimit, other.Status.RateLimit);
        Cmp("backlog_limit", Status.BacklogLimit, other.Status.BacklogLimit);
        Cmp("backlog_wait_time", Status.BacklogWaitTime, other.Status.BacklogWaitTime);
        Cmp("rules", Rules.Count, other.Rules.Count);
        for (int i = 0; i < Math.Min(Rules.Count, other.Rules.Count); i++)
        {
            if (!Rules[i].Equals(other.Rules[i]))
            {
                diffs.Add($"rule {i} differs");
            }
        }
        return diffs;
    }
}
