using Microsoft.Extensions.Logging;
using Sluice.Audit.Interop;
using Sluice.Audit.Netlink;

namespace Sluice.Agent.Kernel;

/// <summary>Stops, starts, disables and enables the audit daemon on this host.</summary>
internal sealed partial class AuditdService(ICommandRunner commands, ILogger<AuditdService> logger, TimeProvider time)
{
    private static readonly TimeSpan s_commandTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan s_failedStartGrace = TimeSpan.FromSeconds(1);

    // Units that would fight the agent over settings and rules at reboot or on
    // `augenrules --load` (docs/kernel-audit.md, "Taking over from auditd").
    private static readonly string[] s_units = ["auditd.service", "audit-rules.service"];

    public static bool IsSystemd => Directory.Exists("/run/systemd/system");

    /// <summary>Whether systemd is this host's init (<see cref="IsSystemd"/>); settable for tests of both worlds.</summary>
    public bool SystemdIsInit { get; init; } = IsSystemd;

    /// <summary>
    /// Stops auditd (registered as consumer <paramref name="pid"/>): `service auditd stop`, else
    /// `auditctl --signal stop`, else SIGTERM; then waits until the kernel shows no consumer.
    /// </summary>
    /// <exception cref="TimeoutException">The consumer is still registered after the timeout.</exception>
    public void Stop(AuditControlClient control, uint pid, TimeSpan timeout)
    {
        // On systemd, `systemctl stop auditd` is refused (RefuseManualStop=yes); `service`
        // goes through the unit's own stop path or the init script.
        var attempts = new List<(string File, string[] Args)>();
        if (commands.Exists("service"))
        {
            attempts.Add(("service", ["auditd", "stop"]));
        }
        if (commands.Exists("auditctl"))
        {
            attempts.Add(("auditctl", ["--signal", "stop"]));
        }
        foreach (var (file, args) in attempts)
        {
            var (code, output) = commands.Run(file, args, s_commandTimeout);
            Log.StopAttempt(logger, $"{file} {string.Join(' ', args)}", code, output);
            if (WaitForNoConsumer(control, TimeSpan.FromSeconds(Math.Min(5, timeout.TotalSeconds))))
            {
                return;
            }
        }
        Terminate(pid);
        if (!WaitForNoConsumer(control, timeout))
        {
            throw new TimeoutException($"auditd (pid {pid}) is still the registered audit consumer {timeout.TotalSeconds:0}s after being asked to stop");
        }
    }

    /// <summary>Sends SIGTERM to a consumer that is not auditd (takeover: force).</summary>
    public void Terminate(uint pid)
    {
        Log.Terminating(logger, pid, ProcessNames.Comm(pid) ?? "unknown");
        int errno = PosixCalls.Terminate((int)pid);
        if (errno != 0)
        {
            Log.KillFailed(logger, pid, errno);
        }
    }

    /// <summary>Polls AUDIT_GET until no consumer is registered, or the dead one is gone.</summary>
    public bool WaitForNoConsumer(AuditControlClient control, TimeSpan timeout)
    {
        long start = time.GetTimestamp();
        while (true)
        {
            uint pid = control.GetStatus().Pid;
            // A consumer that exited leaves its pid until kauditd next fails to reach it; a
            // process that no longer exists cannot hold the claim (the next claim succeeds:
            // docs/kernel-audit.md, "Claiming the consumer PID").
            if (pid == 0 || !Directory.Exists($"/proc/{pid}"))
            {
                return true;
            }
            if (time.GetElapsedTime(start) > timeout)
            {
                return false;
            }
            Thread.Sleep(100);
        }
    }

    /// <summary>Disables the audit units that are enabled; returns the ones it disabled.</summary>
    public List<string> DisableUnits()
    {
        var disabled = new List<string>();
        if (!SystemdIsInit || !commands.Exists("systemctl"))
        {
            return disabled;
        }
        foreach (var unit in s_units)
        {
            var (_, state) = commands.Run("systemctl", ["is-enabled", unit], s_commandTimeout);
            if (state.Trim() != "enabled")
            {
                continue;
            }
            var (code, output) = commands.Run("systemctl", ["disable", unit], s_commandTimeout);
            Log.UnitChanged(logger, "disable", unit, code, output);
            if (code == 0)
            {
                disabled.Add(unit);
            }
        }
        return disabled;
    }

    public void EnableUnits(IEnumerable<string> units)
    {
        foreach (var unit in units)
        {
            var (code, output) = commands.Run("systemctl", ["enable", unit], s_commandTimeout);
            Log.UnitChanged(logger, "enable", unit, code, output);
        }
    }

    /// <summary>
    /// The command that starts auditd on this host. With systemd as init, <c>systemctl start
    /// auditd.service</c>: PID 1 starts auditd in its own unit, with that unit's capabilities and
    /// not the caller's (the agent's unit has a bounding set of three, which auditd cannot run in).
    /// Without systemd, <c>service auditd start</c>, the init script, or the daemon itself: auditd
    /// then runs as the caller's descendant, inside the caller's bounding set.
    /// </summary>
    public (string File, string[] Args) StartCommand()
    {
        if (SystemdIsInit && commands.Exists("systemctl"))
        {
            return ("systemctl", ["start", "auditd.service"]);
        }
        if (commands.Exists("service"))
        {
            return ("service", ["auditd", "start"]);
        }
        if (commands.Exists("/etc/init.d/auditd"))
        {
            return ("/etc/init.d/auditd", ["start"]);
        }
        return ("auditd", []);
    }

    /// <summary>
    /// Starts auditd again and waits until it is the registered consumer, all within
    /// <paramref name="timeout"/>: the command's own run included, so that a stop never hangs on it.
    /// </summary>
    public AuditdStartResult Start(AuditControlClient control, TimeSpan timeout)
    {
        var (file, args) = StartCommand();
        string command = string.Join(' ', [file, .. args]);
        long start = time.GetTimestamp();
        var (code, output) = commands.Run(file, args, timeout);
        Log.StartAttempt(logger, command, code, output);
        // A start command that failed has started nothing worth waiting the whole timeout for; a
        // short grace still lets a daemon that registers as its starter exits count as started.
        var wait = code == 0 ? timeout - time.GetElapsedTime(start) : s_failedStartGrace;
        long waitStart = time.GetTimestamp();
        while (true)
        {
            uint pid = control.GetStatus().Pid;
            if (pid != 0 && ProcessNames.Comm(pid) == "auditd")
            {
                return new AuditdStartResult(command, code, output, Registered: true);
            }
            if (time.GetElapsedTime(waitStart) >= wait)
            {
                var result = new AuditdStartResult(command, code, output, Registered: false);
                Log.StartFailed(logger, result.Describe());
                return result;
            }
            Thread.Sleep(100);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Asked auditd to stop with `{Command}`: exit {Code} {Output}")]
        public static partial void StopAttempt(ILogger logger, string command, int code, string output);

        [LoggerMessage(2, LogLevel.Warning, "Sending SIGTERM to the audit consumer pid {Pid} ({Comm})")]
        public static partial void Terminating(ILogger logger, uint pid, string comm);

        [LoggerMessage(3, LogLevel.Warning, "kill({Pid}, SIGTERM) failed: errno {Errno}")]
        public static partial void KillFailed(ILogger logger, uint pid, int errno);

        [LoggerMessage(4, LogLevel.Information, "systemctl {Verb} {Unit}: exit {Code} {Output}")]
        public static partial void UnitChanged(ILogger logger, string verb, string unit, int code, string output);

        [LoggerMessage(5, LogLevel.Information, "Started auditd with `{Command}`: exit {Code} {Output}")]
        public static partial void StartAttempt(ILogger logger, string command, int code, string output);

        [LoggerMessage(6, LogLevel.Error, "auditd did not start again: {Reason}")]
        public static partial void StartFailed(ILogger logger, string reason);
    }
}

/// <summary>What starting auditd again did: the command, its exit code (-1: did not start or timed out) and output, and whether auditd registered.</summary>
internal sealed record AuditdStartResult(string Command, int ExitCode, string Output, bool Registered)
{
    /// <summary>One line for logs and restore notes, naming the command, its exit code and its output.</summary>
    public string Describe() => Registered
        ? $"auditd is the audit consumer again after `{Command}` (exit {ExitCode})"
        : $"auditd was running before the agent but is not the audit consumer after `{Command}`: exit {ExitCode}, output: {(Output.Length == 0 ? "(none)" : Output.ReplaceLineEndings(" | "))}; start it by hand";
}
