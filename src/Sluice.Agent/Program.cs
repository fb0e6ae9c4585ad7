using System.CommandLine;
using Sluice.Cli;
using Sluice.Agent.Cli;

// Each verb lives in Cli/<Verb>Command.cs and exposes a static Create().
var root = new RootCommand("Sluice: takes over kernel audit from auditd, drains, filters, spools and ships audit events.");
root.Subcommands.Add(StatusCommand.Create());
root.Subcommands.Add(RulesCommand.Create());
root.Subcommands.Add(ReplayCommand.Create());
root.Subcommands.Add(RunCommand.Create());
root.Subcommands.Add(RestoreCommand.Create());
VersionAction.Use(root, "sluice-agent");
var parse = root.Parse(args);
var invocation = new InvocationConfiguration();
if (parse.CommandResult.Command.Name == "run")
{
    // `run` stops through the host's own SIGTERM/SIGINT handling: the final drain, the spool, the
    // restore and auditd started again, bounded by HostOptions.ShutdownTimeout. System.CommandLine's
    // handling would end the process 2 s after the signal (exit 143), half-way through the restore.
    invocation.ProcessTerminationTimeout = null;
}
return await parse.InvokeAsync(invocation);
