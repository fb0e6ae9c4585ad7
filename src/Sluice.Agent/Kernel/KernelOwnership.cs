using Microsoft.Extensions.Logging;
using Sluice.Agent.Configuration;
using Sluice.Audit.Netlink;
using Sluice.Audit.Rules;

namespace Sluice.Agent.Kernel;

/// <summary>
/// Takes kernel audit over from whoever had it, and gives it back exactly as found: the
/// snapshot, the auditd stop/start, the kernel settings. Every step is logged.
/// </summary>
internal sealed partial class KernelOwnership(AgentOptions options, AuditdService auditd, ILogger<KernelOwnership> logger, TimeProvider time)
{
    /// <summary>The snapshot taken at start (null before <see cref="TakeOver"/>).</summary>
    public KernelState? State { get; private set; }

    /// <summary>True when the kernel is locked (enabled=2): nothing could be changed.</summary>
    public bool Immutable { get; private set; }

    /// <summary>
    /// Startup steps 1–3: handle a stale state file, snapshot to the state file, stop auditd
    /// (or refuse another consumer), then apply the kernel settings one field at a time.
    /// </summary>
    public void TakeOver(AuditControlClient control)
    {
        if (ResumeCrashedRun(control) is { } resumed)
        {
            State = resumed;
            Immutable = control.GetStatus().IsImmutable;
            if (!Immutable)
            {
                ApplySettings(control);
            }
            return;
        }
        RecoverStaleState(control);

        var status = control.GetStatus();
        var state = KernelState.Capture(status, control.ListRules(), time);
        state.Save(options.StateDirectory, logger);
        State = state;
        Log.Snapshot(logger, Path.Combine(options.StateDirectory, KernelState.FileName), status.Enabled, status.Failure,
            status.BacklogLimit, status.BacklogWaitTime ?? 0, status.RateLimit, state.Rules.Count, status.Pid, state.ConsumerComm ?? "-");

        if (status.Pid != 0 && status.Pid != Environment.ProcessId)
        {
            ReleaseConsumer(control, state, status.Pid);
            state.Save(options.StateDirectory, logger);
        }

        Immutable = status.IsImmutable;
        if (Immutable)
        {
            Log.ImmutableHost(logger);
            return;
        }
        ApplySettings(control);
    }

    private void ReleaseConsumer(AuditControlClient control, KernelState state, uint pid)
    {
        string comm = ProcessNames.Comm(pid) ?? "unknown";
        var timeout = TimeSpan.FromSeconds(options.TakeoverTimeoutSeconds);
        if (!Directory.Exists($"/proc/{pid}"))
        {
            // A consumer that died leaves its pid registered until kauditd notices; the claim
            // will succeed because its socket is gone.
            Log.StaleConsumer(logger, pid);
            return;
        }
        if (comm == "auditd" && options.Takeover != TakeoverPolicy.Never)
        {
            Log.StoppingAuditd(logger, pid);
            state.AuditdWasRunning = true;
            state.Save(options.StateDirectory, logger);
            if (options.DisableAuditdService)
            {
                state.DisabledUnits = auditd.DisableUnits();
                state.Save(options.StateDirectory, logger);
            }
            auditd.Stop(control, pid, timeout);
            Log.AuditdStopped(logger);
            return;
        }
        if (options.Takeover == TakeoverPolicy.Force)
        {
            auditd.Terminate(pid);
            if (!auditd.WaitForNoConsumer(control, timeout))
            {
                throw new TakeoverException($"the audit consumer pid {pid} ({comm}) did not exit after SIGTERM within {timeout.TotalSeconds:0}s");
            }
            return;
        }
        throw new TakeoverException(
            $"another audit consumer is registered: pid {pid} ({comm}). Stop it, or set \"Takeover\": \"Force\" to have the agent stop it" +
            (comm == "auditd" ? "; Takeover is Never" : ""));
    }

    private void ApplySettings(AuditControlClient control)
    {
        var k = options.Kernel;
        // One field per message: the kernel applies fields in order and stops at the first
        // error, keeping the earlier ones (docs/kernel-audit.md, "struct audit_status").
        Set("failure", k.Failure, control.SetFailure);
        Set("backlog_limit", k.BacklogLimit, control.SetBacklogLimit);
        Set("backlog_wait_time", k.BacklogWaitTime, control.SetBacklogWaitTime);
        Set("rate_limit", k.RateLimit, control.SetRateLimit);
        Set("enabled", 1, control.SetEnabled);
    }

    private void Set(string field, uint value, Action<uint> set)
    {
        set(value);
        Log.Setting(logger, field, value);
    }

    /// <summary>
    /// A state file left by a crashed agent, and no live consumer since: take over where it left
    /// off instead of restoring first. Restoring would delete the rules and start auditd only to
    /// stop it again, and events of that interval would never be logged at all, so no serial gap
    /// could show them. The old snapshot stays the one restored at the end: it holds the host's own
    /// settings, not the crashed agent's. The kernel's pid may still name the dead agent until
    /// kauditd's next send fails; the claim then succeeds (<see cref="ReleaseConsumer"/>).
    /// </summary>
    private KernelState? ResumeCrashedRun(AuditControlClient control)
    {
        var stale = KernelState.Load(options.StateDirectory);
        if (stale is null || stale.AgentPid == Environment.ProcessId || Directory.Exists($"/proc/{stale.AgentPid}"))
        {
            return null;
        }
        uint pid = control.GetStatus().Pid;
        if (pid != 0 && pid != (uint)stale.AgentPid && Directory.Exists($"/proc/{pid}"))
        {
            return null; // someone took audit since: restore the host first, then take it from them
        }
        Log.ResumingCrashed(logger, stale.AgentPid, stale.CreatedUtc, pid);
        stale.AgentPid = Environment.ProcessId;
        stale.Save(options.StateDirectory, logger);
        return stale;
    }

    /// <summary>
    /// A state file from a run that did not stop cleanly: restore it first, so the new
    /// snapshot records the host's own settings and not the crashed agent's.
    /// </summary>
    private void RecoverStaleState(AuditControlClient control)
    {
        var stale = KernelState.Load(options.StateDirectory);
        if (stale is null)
        {
            return;
        }
        if (stale.AgentPid != Environment.ProcessId && ProcessNames.Comm((uint)stale.AgentPid) is string comm && comm.StartsWith("sluice", StringComparison.Ordinal))
        {
            throw new TakeoverException($"another agent (pid {stale.AgentPid}, {comm}) owns kernel audit per {Path.Combine(options.StateDirectory, KernelState.FileName)}");
        }
        Log.StaleState(logger, stale.AgentPid, stale.CreatedUtc);
        Restore(control, stale);
    }

    /// <summary>
    /// Gives the host back: rules equal to the snapshot (ours deleted, deleted ones re-added),
    /// settings as they were, auditd's units enabled and auditd started if it ran, state file removed.
    /// </summary>
    /// <remarks>The caller has already released the consumer PID (or crashed holding it).</remarks>
    public RestoreReport Restore(AuditControlClient control, KernelState state)
    {
        var report = new RestoreReport();
        var status = control.GetStatus();
        if (status.IsImmutable)
        {
            Log.RestoreImmutable(logger);
            report.Notes.Add("kernel audit is locked (immutable) until reboot: settings and rules were left as they are");
        }
        else
        {
            var wanted = state.KernelRules;
            var current = control.ListRules();
            foreach (var rule in current.Where(r => !wanted.Contains(r)))
            {
                control.DeleteRule(rule);
                report.RulesDeleted++;
            }
            foreach (var rule in wanted.Where(r => !current.Contains(r)))
            {
                try
                {
                    control.AddRule(rule);
                    report.RulesAdded++;
                }
                catch (AuditException e)
                {
                    // A watch on a path that no longer exists, say; the rest still goes back.
                    report.Notes.Add($"could not re-add a rule ({string.Join(",", rule.Keys)}): {e.Message}");
                }
            }
            Restore("failure", status.Failure, state.Failure, control.SetFailure, report);
            Restore("backlog_limit", status.BacklogLimit, state.BacklogLimit, control.SetBacklogLimit, report);
            if (state.BacklogWaitTime is uint wait)
            {
                Restore("backlog_wait_time", status.BacklogWaitTime ?? wait, wait, control.SetBacklogWaitTime, report);
            }
            Restore("rate_limit", status.RateLimit, state.RateLimit, control.SetRateLimit, report);
            if (state.Enabled != 2)
            {
                Restore("enabled", status.Enabled, state.Enabled, control.SetEnabled, report);
            }
            Log.RulesRestored(logger, report.RulesDeleted, report.RulesAdded);
        }
        if (state.DisabledUnits.Count > 0)
        {
            auditd.EnableUnits(state.DisabledUnits);
        }
        if (state.AuditdWasRunning)
        {
            var started = auditd.Start(control, TimeSpan.FromSeconds(options.TakeoverTimeoutSeconds));
            report.AuditdStart = started;
            if (!started.Registered)
            {
                report.Notes.Add(started.Describe());
            }
            Log.AuditdRestarted(logger, report.AuditdStarted);
        }
        KernelState.Delete(options.StateDirectory);
        return report;
    }

    private void Restore(string field, uint now, uint wanted, Action<uint> set, RestoreReport report)
    {
        if (now == wanted)
        {
            return;
        }
        set(wanted);
        report.SettingsRestored.Add($"{field} {now} -> {wanted}");
        Log.Setting(logger, field, wanted);
    }

    private static partial class Log
    {
        [LoggerMessage(10, LogLevel.Information, "Snapshot written to {Path}: enabled={Enabled} failure={Failure} backlog_limit={BacklogLimit} backlog_wait_time={Wait} rate_limit={Rate}, {Rules} rules, consumer pid {Pid} ({Comm})")]
        public static partial void Snapshot(ILogger logger, string path, uint enabled, uint failure, uint backlogLimit, uint wait, uint rate, int rules, uint pid, string comm);

        [LoggerMessage(11, LogLevel.Information, "auditd (pid {Pid}) is the audit consumer: stopping it")]
        public static partial void StoppingAuditd(ILogger logger, uint pid);

        [LoggerMessage(12, LogLevel.Information, "auditd stopped; no consumer is registered")]
        public static partial void AuditdStopped(ILogger logger);

        [LoggerMessage(13, LogLevel.Warning, "Kernel audit is locked (immutable, enabled=2) until reboot: running with the settings and rules it has; none can be changed")]
        public static partial void ImmutableHost(ILogger logger);

        [LoggerMessage(14, LogLevel.Information, "Set {Field}={Value}")]
        public static partial void Setting(ILogger logger, string field, uint value);

        [LoggerMessage(15, LogLevel.Warning, "Found the state file of a run that did not stop cleanly (pid {Pid}, started {Created}): restoring the host from it first")]
        public static partial void StaleState(ILogger logger, int pid, DateTimeOffset created);

        [LoggerMessage(16, LogLevel.Warning, "Restore: kernel audit is immutable; settings and rules stay as they are until reboot")]
        public static partial void RestoreImmutable(ILogger logger);

        [LoggerMessage(17, LogLevel.Information, "Restore: deleted {Deleted} rules, re-added {Added}")]
        public static partial void RulesRestored(ILogger logger, int deleted, int added);

        [LoggerMessage(18, LogLevel.Information, "Restore: auditd started again: {Started}")]
        public static partial void AuditdRestarted(ILogger logger, bool started);

        [LoggerMessage(9, LogLevel.Warning, "Found the state file of a run that did not stop cleanly (pid {Pid}, started {Created}) and no live consumer since (kernel pid {KernelPid}): taking over where it left off, its snapshot to be restored at stop")]
        public static partial void ResumingCrashed(ILogger logger, int pid, DateTimeOffset created, uint kernelPid);

        [LoggerMessage(19, LogLevel.Information, "The registered consumer pid {Pid} no longer exists; its registration is stale")]
        public static partial void StaleConsumer(ILogger logger, uint pid);
    }
}

/// <summary>What a restore did.</summary>
internal sealed class RestoreReport
{
    public int RulesDeleted { get; set; }

    public int RulesAdded { get; set; }

    public List<string> SettingsRestored { get; } = new();

    public bool AuditdStarted => AuditdStart?.Registered == true;

    /// <summary>The attempt to start auditd again (null when it was not running before the agent).</summary>
    public AuditdStartResult? AuditdStart { get; set; }

    public List<string> Notes { get; } = new();
}

/// <summary>The agent cannot take audit over; the message names who holds it and what to do.</summary>
internal sealed class TakeoverException(string message) : Exception(message);
