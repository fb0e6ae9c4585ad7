using System.CommandLine;
using Sluice.Agent.Cli;

// Each verb lives in Cli/<Verb>Command.cs and exposes a static Create().
var root = new RootCommand("Sluice: takes over kernel audit from auditd, drains, filters, spools and ships audit events.");
root.Subcommands.Add(StatusCommand.Create());
root.Subcommands.Add(RulesCommand.Create());
root.Subcommands.Add(ReplayCommand.Create());
root.Subcommands.Add(RunCommand.Create());
root.Subcommands.Add(RestoreCommand.Create());
return await root.Parse(args).InvokeAsync();
