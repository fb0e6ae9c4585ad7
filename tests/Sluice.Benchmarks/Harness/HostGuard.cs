using System.Diagnostics;
using Sluice.Audit.Netlink;
using Sluice.Audit.Rules;
using Sluice.Testing;

namespace Sluice.Benchmarks.Harness;

/// <summary>
/// Holds the machine-wide kernel audit lock for the whole comparison, stops a running auditd,
/// and on <see cref="Dispose"/> puts everything back as it was found: the harness's rules deleted,
/// the status and rules of the snapshot restored, auditd started again if it had been running.
/// Never sets enabled=2 or failure=2.
/// </summary>
public sealed class HostGuard : IDisposable
{
    public const string KeyPrefix = "sluice-bench-cmp-";

    private readonly KernelLock _lock;
    private readonly KernelSnapshot _snapshot;
    private readonly bool _auditdWasRunning;
    private bool _disposed;

    private HostGuard(KernelLock kernelLock, KernelSnapshot snapshot, bool auditdWasRunning)
    {
        _lock = kernelLock;
        _snapshot = snapshot;
        _auditdWasRunning = auditdWasRunning;
    }

    public KernelSnapshot Snapshot => _snapshot;

    public bool AuditdWasRunning => _auditdWasRunning;

    /// <summary>Waits for the lock (Ctrl-C ends the wait), then takes the snapshot and stops auditd.</summary>
    public static HostGuard Acquire(TimeSpan timeout, TextWriter log, CancellationToken cancel)
    {
        log.WriteLine($"waiting for the kernel audit lock {KernelLock.DefaultPath} (up to {timeout.TotalMinutes:0} min)...");
        KernelLock? kernelLock = null;
        var sw = Stopwatch.StartNew();
        while (kernelLock is null)
        {
            cancel.ThrowIfCancellationRequested();
            try
            {
                kernelLock = KernelLock.Acquire(TimeSpan.FromSeconds(1));
            }
            catch (IOException) when (sw.Elapsed < timeout)
            {
                // Held by someone else: try again.
            }
            catch (IOException e)
            {
                throw new TimeoutException($"another program held the kernel audit lock {KernelLock.DefaultPath} for {timeout.TotalMinutes:0} min " +
                    "(a process started under `flock` without -o, auditd for one, keeps it while it runs): " + e.Message, e);
            }
        }
        try
        {
            var snapshot = KernelSnapshot.Take();
            if (snapshot.Status.IsImmutable)
            {
                throw new InvalidOperationException("kernel audit is immutable (enabled=2) until reboot: the comparison cannot change rules or settings");
            }
            bool auditd = AuditdRunning();
            if (auditd)
            {
                log.WriteLine("auditd is running: stopping it for the comparison (it is started again at the end)");
                StopSystemAuditd();
            }
            else if (snapshot.Status.Pid != 0)
            {
                throw new InvalidOperationException($"another audit consumer is registered (pid {snapshot.Status.Pid}, {ProcessNames.Comm(snapshot.Status.Pid)}): stop it first");
            }
            return new HostGuard(kernelLock, snapshot, auditd);
        }
        catch
        {
            kernelLock.Dispose();
            throw;
        }
    }

    /// <summary>The settings every consumer starts from: enabled, and the same backlog limit and wait.</summary>
    public static void Apply(AuditControlClient control, uint backlogLimit, uint backlogWaitTime, bool enabled)
    {
        var status = control.GetStatus();
        if (status.Failure == 2)
        {
            control.SetFailure(1); // never run load with failure=panic
        }
        if (status.RateLimit != 0)
        {
            control.SetRateLimit(0);
        }
        control.SetBacklogLimit(backlogLimit);
        control.SetBacklogWaitTime(backlogWaitTime);
        control.SetEnabled(enabled ? 1u : 0u);
    }

    /// <summary>Deletes any rule carrying the harness's key prefix (left by an interrupted trial).</summary>
    public static int DeleteHarnessRules(AuditControlClient control)
    {
        int deleted = 0;
        foreach (var rule in control.ListRules())
        {
            if (RuleFormatter.Format(rule).Contains("key=" + KeyPrefix, StringComparison.Ordinal))
            {
                try
                {
                    control.DeleteRule(rule);
                    deleted++;
                }
                catch (AuditException)
                {
                }
            }
        }
        return deleted;
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        try
        {
            using (var control = AuditControlClient.Open())
            {
                DeleteHarnessRules(control);
                uint pid = control.GetStatus().Pid;
                if (pid != 0 && pid != _snapshot.Status.Pid)
                {
                    Console.Error.WriteLine($"warning: pid {pid} ({ProcessNames.Comm(pid)}) is still the audit consumer after the comparison");
                }
            }
            _snapshot.Restore();
            if (_auditdWasRunning && !AuditdRunning())
            {
                var (code, output) = NativeTools.Run("service", "auditd start");
                if (code != 0)
                {
                    Console.Error.WriteLine($"warning: 'service auditd start' failed ({code}): {output.Trim()} - start auditd by hand");
                }
            }
        }
        finally
        {
            _lock.Dispose();
        }
    }

    private static bool AuditdRunning() => ProcStat.Processes().Any(p => p.Comm == "auditd");

    private static void StopSystemAuditd()
    {
        var (code, output) = NativeTools.Run("service", "auditd stop");
        var sw = Stopwatch.StartNew();
        while (AuditdRunning() && sw.Elapsed < TimeSpan.FromSeconds(30))
        {
            Thread.Sleep(100);
        }
        if (AuditdRunning())
        {
            throw new InvalidOperationException($"auditd is still running 30 s after 'service auditd stop' ({code}: {output.Trim()})");
        }
    }
}
