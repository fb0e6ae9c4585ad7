using Microsoft.Extensions.Logging;
using Quartz;
using Sluice.Agent.Configuration;
using Sluice.Agent.Kernel;
using Sluice.Audit.Netlink;

namespace Sluice.Agent.Monitoring;

/// <summary>
/// Notices when someone else changed the audit settings or deleted the agent's rules (auditctl,
/// augenrules, another tool), reasserts them and reports it. Claim attempts on the consumer PID
/// (AUDIT_REPLACE) are reported by the loss monitor.
/// </summary>
[DisallowConcurrentExecution]
internal sealed partial class WatchdogJob(KernelSession session, KernelOwnership ownership, AgentOptions options, AgentMetrics metrics, ILogger<WatchdogJob> logger) : IJob
{
    public static readonly JobKey Key = new("watchdog", "sluice");

    public ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        if (options.Mode != AgentMode.Unicast || ownership.Immutable || ownership.State is null)
        {
            return ValueTask.CompletedTask;
        }
        Check(session.WatchdogControl);
        return ValueTask.CompletedTask;
    }

    internal int Check(AuditControlClient control)
    {
        int reasserted = 0;
        var status = control.GetStatus();
        if (status.IsImmutable)
        {
            return 0;
        }
        var k = options.Kernel;
        void Ensure(string field, uint now, uint wanted, Action<uint> set)
        {
            if (now == wanted)
            {
                return;
            }
            Log.Changed(logger, field, now, wanted);
            set(wanted);
            reasserted++;
        }
        Ensure("enabled", status.Enabled, 1, control.SetEnabled);
        Ensure("failure", status.Failure, k.Failure, control.SetFailure);
        Ensure("backlog_limit", status.BacklogLimit, session.WantedBacklogLimit, control.SetBacklogLimit);
        Ensure("backlog_wait_time", status.BacklogWaitTime ?? k.BacklogWaitTime, k.BacklogWaitTime, control.SetBacklogWaitTime);
        Ensure("rate_limit", status.RateLimit, k.RateLimit, control.SetRateLimit);
        if (status.Pid != Environment.ProcessId)
        {
            Log.ConsumerChanged(logger, status.Pid, ProcessNames.Comm(status.Pid) ?? "none");
        }
        // The rules in force: the central policy's when one is (PolicyApplier swaps them under the same lock).
        lock (session.RulesLock)
        {
            reasserted += ReassertRules(control);
        }
        for (int i = 0; i < reasserted; i++)
        {
            metrics.AddWatchdogReassert();
        }
        return reasserted;
    }

    private int ReassertRules(AuditControlClient control)
    {
        int reasserted = 0;
        if (session.LoadedRules.Count > 0)
        {
            var current = control.ListRules();
            foreach (var rule in session.LoadedRules.Where(r => !current.Contains(r)))
            {
                Log.RuleMissing(logger, string.Join(",", rule.Keys));
                try
                {
                    control.AddRule(rule);
                    reasserted++;
                }
                catch (AuditException e)
                {
                    Log.ReassertFailed(logger, e.Message);
                }
            }
        }
        return reasserted;
    }

    private static partial class Log
    {
        [LoggerMessage(50, LogLevel.Warning, "Watchdog: {Field} was changed to {Now} by someone else; reasserting {Wanted}")]
        public static partial void Changed(ILogger logger, string field, uint now, uint wanted);

        [LoggerMessage(51, LogLevel.Warning, "Watchdog: a rule the agent loaded (key {Keys}) was deleted by someone else; re-adding it")]
        public static partial void RuleMissing(ILogger logger, string keys);

        [LoggerMessage(52, LogLevel.Error, "Watchdog: could not reassert: {Message}")]
        public static partial void ReassertFailed(ILogger logger, string message);

        [LoggerMessage(53, LogLevel.Error, "Watchdog: the registered audit consumer is now pid {Pid} ({Comm}), not this agent")]
        public static partial void ConsumerChanged(ILogger logger, uint pid, string comm);
    }
}
