using System.CommandLine;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sluice.Agent.Configuration;
using Sluice.Agent.Kernel;
using Sluice.Audit.Netlink;

namespace Sluice.Agent.Cli;

/// <summary><c>sluice-agent restore</c>: puts the host back from the state file after an agent crashed.</summary>
internal static class RestoreCommand
{
    public static Command Create()
    {
        var config = RunCommand.ConfigOption();
        var unlessRestarted = new Option<bool>("--unless-restarted")
        {
            Description = "As a systemd unit's ExecStopPost with Restart=on-failure: when systemd reports that the agent was killed by a signal " +
                "(it will start it again), leave the state file to the restarted agent, which resumes from it and reports the gap.",
        };
        var command = new Command("restore",
            "Restore the kernel audit settings and rules, and auditd, from the state file a crashed agent left behind (kernel-state.json).");
        command.Options.Add(config);
        command.Options.Add(unlessRestarted);
        command.SetAction(parse => Run(parse.GetValue(config), Console.Out, Console.Error,
            parse.GetValue(unlessRestarted) ? Environment.GetEnvironmentVariable : null));
        return command;
    }

    /// <summary>
    /// True when the environment systemd gives ExecStopPost says the agent was killed by a signal
    /// (the OOM killer's included) that Restart=on-failure restarts after: EXIT_CODE killed or dumped, by a signal other than
    /// the four clean ones (HUP, INT, TERM, PIPE), and not systemd's own kill at a stop timeout
    /// (SERVICE_RESULT timeout, after which no restart follows).
    /// </summary>
    internal static bool RestartFollows(Func<string, string?> env) =>
        env("SERVICE_RESULT") is "signal" or "core-dump" or "oom-kill"
        && env("EXIT_CODE") is "killed" or "dumped"
        && env("EXIT_STATUS") is { Length: > 0 } signal && signal is not ("HUP" or "INT" or "TERM" or "PIPE");

    /// <param name="unlessRestarted">The environment to read systemd's SERVICE_RESULT, EXIT_CODE and EXIT_STATUS from, with --unless-restarted; null otherwise.</param>
    internal static int Run(string? configPath, TextWriter stdout, TextWriter stderr, Func<string, string?>? unlessRestarted = null)
    {
        AgentOptions options;
        try
        {
            options = AgentConfiguration.Load(configPath);
        }
        catch (ConfigurationException e)
        {
            stderr.WriteLine($"sluice-agent restore: {e.Message}");
            return 2;
        }
        KernelState? state;
        try
        {
            state = KernelState.Load(options.StateDirectory);
        }
        catch (InvalidDataException e)
        {
            stderr.WriteLine($"sluice-agent restore: {e.Message}");
            return 1;
        }
        if (state is null)
        {
            stdout.WriteLine($"nothing to restore: no {KernelState.FileName} in {options.StateDirectory}");
            return 0;
        }
        if (unlessRestarted is not null && RestartFollows(unlessRestarted))
        {
            // Restoring now would delete the rules and bounce auditd for the few seconds until the
            // restart stops it again, and the restarted agent could no longer count what the crash
            // cost (the serial watermark goes with the state file).
            stdout.WriteLine($"not restoring: the agent (pid {state.AgentPid}) was killed by SIG{unlessRestarted("EXIT_STATUS")} and systemd starts it again; " +
                $"it resumes from {Path.Combine(options.StateDirectory, KernelState.FileName)}");
            return 0;
        }
        if (state.AgentPid != Environment.ProcessId && ProcessNames.Comm((uint)state.AgentPid) is string comm && comm.StartsWith("sluice", StringComparison.Ordinal))
        {
            stderr.WriteLine($"sluice-agent restore: the agent that wrote the state file is still running (pid {state.AgentPid}, {comm}); stop it instead (SIGTERM) and it restores the host itself");
            return 1;
        }
        using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true));
        var time = TimeProvider.System;
        var ownership = new KernelOwnership(options, new AuditdService(new ProcessCommandRunner(), loggerFactory.CreateLogger<AuditdService>(), time),
            loggerFactory.CreateLogger<KernelOwnership>(), time);
        try
        {
            using var control = AuditControlClient.Open();
            var report = ownership.Restore(control, state);
            stdout.WriteLine($"restored from the snapshot of {state.CreatedUtc:u}: {report.RulesDeleted} rules deleted, {report.RulesAdded} re-added" +
                (report.SettingsRestored.Count > 0 ? $", settings {string.Join(", ", report.SettingsRestored)}" : ", settings unchanged") +
                (state.AuditdWasRunning ? $", auditd {(report.AuditdStarted ? "running again" : "NOT running")}" : ""));
            foreach (var note in report.Notes)
            {
                stdout.WriteLine($"note: {note}");
            }
            return report.Notes.Count == 0 ? 0 : 1;
        }
        catch (AuditException e)
        {
            stderr.WriteLine($"sluice-agent restore: {e.Message}");
            return e.Kind == AuditErrorKind.PermissionDenied ? 4 : 1;
        }
    }
}
