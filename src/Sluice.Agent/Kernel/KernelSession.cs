using Sluice.Audit.Netlink;
using Sluice.Audit.Rules;

namespace Sluice.Agent.Kernel;

/// <summary>
/// The agent's hold on the kernel while it runs: one control socket per user (startup and
/// shutdown, the loss monitor, the watchdog: a control client serves one request at a time),
/// and what the agent wants the kernel to keep.
/// </summary>
internal sealed class KernelSession : IDisposable
{
    private AuditControlClient? _control;
    private AuditControlClient? _monitor;
    private AuditControlClient? _watchdog;

    public AuditControlClient Control => _control ??= AuditControlClient.Open();

    public AuditControlClient MonitorControl => _monitor ??= AuditControlClient.Open();

    public AuditControlClient WatchdogControl => _watchdog ??= AuditControlClient.Open();

    /// <summary>The backlog_limit the agent set (the loss monitor may raise it).</summary>
    public volatile uint WantedBacklogLimit;

    /// <summary>Held while the rules in force change (a central policy) or are reasserted (the watchdog).</summary>
    public Lock RulesLock { get; } = new();

    /// <summary>The rules the agent loaded and keeps loaded: the local files' or the central policy's.</summary>
    public IReadOnlyList<KernelRule> LoadedRules { get; set; } = [];

    public void Dispose()
    {
        _control?.Dispose();
        _monitor?.Dispose();
        _watchdog?.Dispose();
    }
}
