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
        var command = new Command("restore",
            "Restore the kernel audit settings and rules, and auditd, from the state file a crashed agent left behind (kernel-state.json).");
        command.Options.Add(config);
        command.SetAction(parse => Run(parse.GetValue(config), Console.Out, Console.Error));
        return command;
    }

    internal static int Run(string? configPath, TextWriter stdout, TextWriter stderr)
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
