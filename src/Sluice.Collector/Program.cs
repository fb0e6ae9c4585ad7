using System.CommandLine;
using Sluice.Cli;
using Sluice.Collector.Cli;

// Each verb lives in Cli/<Verb>Command.cs and exposes a static Create().
var root = new RootCommand("Sluice collection server: receives, authenticates, deduplicates and stores audit event batches.");
root.Subcommands.Add(ServeCommand.Create());
root.Subcommands.Add(StatsCommand.Create());
root.Subcommands.Add(ExportCommand.Create());
root.Subcommands.Add(PruneCommand.Create());
root.Subcommands.Add(ReportCommand.Create());
root.Subcommands.Add(AgentsCommand.Create());
root.Subcommands.Add(PolicyCommand.Create());
VersionAction.Use(root, "sluice-collector");
return await root.Parse(args).InvokeAsync();
