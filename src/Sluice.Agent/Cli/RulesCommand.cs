using System.CommandLine;
using Sluice.Audit.Netlink;
using Sluice.Audit.Rules;
using Sluice.Audit.Tables;

namespace Sluice.Agent.Cli;

/// <summary><c>sluice-agent rules check|list|load|delete</c>: audit.rules files, compiled without auditctl.</summary>
internal static class RulesCommand
{
    public const string DefaultStateFile = "/var/lib/sluice/rules-state.json";

    // Exit codes: 0 done, 1 the kernel refused, 2 the rules have errors, 4 permission denied.
    public const int ExitKernel = 1;
    public const int ExitRuleErrors = 2;
    public const int ExitPermission = 4;

    public static Command Create()
    {
        var command = new Command("rules", "Check, list, load and delete audit rules written in auditctl's audit.rules syntax.");
        command.Subcommands.Add(CreateCheck());
        command.Subcommands.Add(CreateList());
        command.Subcommands.Add(CreateLoad());
        command.Subcommands.Add(CreateDelete());
        command.Subcommands.Add(CreateSuggest());
        return command;
    }

    private static Argument<string[]> Files() => new("files")
    {
        Description = "Rules files, read in order (as auditctl -R or augenrules would).",
        Arity = ArgumentArity.OneOrMore,
    };

    private static Option<string> Machine() => new("--machine")
    {
        Description = "Compile for this machine (x86_64, aarch64, i386): what b64/b32 and bare syscall names mean. Default: this host.",
    };

    private static Option<string> State() => new("--state")
    {
        Description = $"File recording the rules Sluice added (default {DefaultStateFile}).",
        DefaultValueFactory = _ => DefaultStateFile,
    };

    private static Option<bool> OwnAll() => new("--own-all-rules")
    {
        Description = "Sluice owns every kernel rule: also delete unwanted rules it did not add.",
    };

    private static Command CreateCheck()
    {
        var files = Files();
        var machine = Machine();
        var command = new Command("check", "Print the rules as auditctl -l would list them after loading, or print the errors and exit 2.");
        command.Arguments.Add(files);
        command.Options.Add(machine);
        command.SetAction(parse => Check(parse.GetValue(files)!, parse.GetValue(machine), Console.Out, Console.Error));
        return command;
    }

    private static Command CreateList()
    {
        var key = new Option<string>("--key", "-k") { Description = "Only rules with this key." };
        var command = new Command("list", "Print the kernel's rules in auditctl -l format.");
        command.Options.Add(key);
        command.SetAction(parse => List(parse.GetValue(key), Console.Out, Console.Error));
        return command;
    }

    private static Command CreateLoad()
    {
        var files = Files();
        var state = State();
        var ownAll = OwnAll();
        var allowImmutable = new Option<bool>("--allow-immutable") { Description = "Apply -e 2 (locks audit until reboot) if the files ask for it." };
        var allowPanic = new Option<bool>("--allow-panic") { Description = "Apply -f 2 (kernel panic on lost records) if the files ask for it." };
        var noControls = new Option<bool>("--no-controls") { Description = "Load the rules only; ignore -b, -f, -e, -r and the other control lines." };
        var command = new Command("load", "Load rules files: add what is missing, delete the rules Sluice added earlier that are no longer wanted.");
        command.Arguments.Add(files);
        command.Options.Add(state);
        command.Options.Add(ownAll);
        command.Options.Add(allowImmutable);
        command.Options.Add(allowPanic);
        command.Options.Add(noControls);
        command.SetAction(parse => Load(parse.GetValue(files)!, new RuleLoadOptions
        {
            StateFile = parse.GetValue(state)!,
            OwnAllRules = parse.GetValue(ownAll),
            AllowImmutable = parse.GetValue(allowImmutable),
            AllowPanic = parse.GetValue(allowPanic),
            ApplyControls = !parse.GetValue(noControls),
        }, Console.Out, Console.Error));
        return command;
    }

    private static Command CreateDelete()
    {
        var key = new Option<string>("--key", "-k") { Description = "Delete the rules with this key.", Required = true };
        var state = State();
        var ownAll = OwnAll();
        var command = new Command("delete", "Delete the rules with a key (only those Sluice added, unless --own-all-rules).");
        command.Options.Add(key);
        command.Options.Add(state);
        command.Options.Add(ownAll);
        command.SetAction(parse => Delete(parse.GetValue(key)!, new RuleLoadOptions
        {
            StateFile = parse.GetValue(state)!,
            OwnAllRules = parse.GetValue(ownAll),
        }, Console.Out, Console.Error));
        return command;
    }

    private static Command CreateSuggest()
    {
        var rules = new Option<string[]>("--rules") { Description = "Rules files to check (default: the rules loaded in the kernel)." , AllowMultipleArgumentsPerToken = true };
        var machine = Machine();
        var command = new Command("suggest", "Print the audit rules the process table (parent, ancestry, container) needs that the rules don't produce. Never loads them.");
        command.Options.Add(rules);
        command.Options.Add(machine);
        command.SetAction(parse => Suggest(parse.GetValue(rules), parse.GetValue(machine), Console.Out, Console.Error));
        return command;
    }

    /// <summary>
    /// <c>rules suggest</c>: the exec, fork and exit_group rules missing from <paramref name="files"/> (or
    /// the kernel's rules), in auditctl syntax with key <see cref="Enrichment.RuleAdvisor.Key"/>. Exit 0
    /// either way; a comment says when nothing is missing.
    /// </summary>
    internal static int Suggest(string[]? files, string? machine, TextWriter stdout, TextWriter stderr)
    {
        uint arch = AuditArch.Machine;
        if (machine is not null && !AuditArch.TryParse(machine, out arch))
        {
            stderr.WriteLine($"sluice-agent rules suggest: unknown machine '{machine}' (x86_64, aarch64, i386)");
            return ExitRuleErrors;
        }
        IReadOnlyList<KernelRule> rules;
        string source;
        if (files is { Length: > 0 })
        {
            var set = RuleParser.ParseFiles(files, new RuleParserOptions { MachineArch = arch });
            if (!ReportErrors(set, stderr, "suggest"))
            {
                return ExitRuleErrors;
            }
            rules = [.. set.Rules.Where(r => r.Operation == RuleOperation.Add).Select(r => r.Rule)];
            source = string.Join(", ", files);
        }
        else
        {
            IReadOnlyList<KernelRule>? loaded = null;
            int rc = WithClient(stderr, "suggest", client =>
            {
                loaded = client.ListRules();
                return 0;
            });
            if (loaded is null)
            {
                return rc;
            }
            rules = loaded;
            source = "the rules loaded in the kernel";
        }
        var missing = Enrichment.RuleAdvisor.Missing(rules, arch);
        if (missing.Count == 0)
        {
            stdout.WriteLine($"# {source} already give the process table every exec, fork and exit_group event it needs");
            return 0;
        }
        stdout.WriteLine($"# Rules the process table needs that {source} don't produce (docs/process-context.md).");
        stdout.WriteLine("# Add them to the agent's rules file (Rules:Files); the agent never adds them itself.");
        stdout.Write(Enrichment.RuleAdvisor.Suggest(missing));
        return 0;
    }

    internal static int Check(string[] files, string? machine, TextWriter stdout, TextWriter stderr)
    {
        uint arch = AuditArch.Machine;
        if (machine is not null && !AuditArch.TryParse(machine, out arch))
        {
            stderr.WriteLine($"sluice-agent rules check: unknown machine '{machine}' (x86_64, aarch64, i386)");
            return ExitRuleErrors;
        }
        var set = RuleParser.ParseFiles(files, new RuleParserOptions { MachineArch = arch });
        if (!ReportErrors(set, stderr, "check"))
        {
            return ExitRuleErrors;
        }
        stdout.Write(RuleFormatter.FormatList(set.InKernelOrder().Select(r => r.Listed), arch));
        foreach (var c in set.Controls)
        {
            stderr.WriteLine($"{c.File}:{c.Line}: control {Describe(c)} (applied by rules load, under its policy)");
        }
        return 0;
    }

    internal static int List(string? key, TextWriter stdout, TextWriter stderr) => WithClient(stderr, "list", client =>
    {
        var rules = client.ListRules().Where(r => key is null || r.Keys.Any(k => k.Contains(key, StringComparison.Ordinal)));
        stdout.Write(RuleFormatter.FormatList(rules));
        return 0;
    });

    internal static int Load(string[] files, RuleLoadOptions options, TextWriter stdout, TextWriter stderr)
    {
        var set = RuleParser.ParseFiles(files);
        if (!ReportErrors(set, stderr, "load"))
        {
            return ExitRuleErrors;
        }
        return WithClient(stderr, "load", client =>
        {
            RuleLoadResult result;
            try
            {
                result = RuleLoader.Apply(client, set, options);
            }
            catch (RuleLoadException e)
            {
                stderr.WriteLine($"sluice-agent rules load: {e.Message}; nothing was changed");
                return e.InnerException is AuditException { Kind: AuditErrorKind.PermissionDenied } ? ExitPermission : ExitKernel;
            }
            catch (InvalidDataException e)
            {
                stderr.WriteLine($"sluice-agent rules load: {e.Message}");
                return ExitKernel;
            }
            stdout.WriteLine($"added {result.Added.Count}, deleted {result.Deleted.Count}, kept {result.Kept.Count}, " +
                $"left alone {result.Foreign.Count} (not added by Sluice)");
            foreach (var (rule, reason) in result.Failed)
            {
                stderr.WriteLine($"{rule.File}:{rule.Line}: not loaded: {reason}");
            }
            foreach (var applied in result.AppliedControls)
            {
                stdout.WriteLine($"set {applied}");
            }
            foreach (var refused in result.RefusedControls)
            {
                stderr.WriteLine(refused);
            }
            return result.RefusedControls.Count > 0 ? ExitRuleErrors : 0;
        });
    }

    internal static int Delete(string key, RuleLoadOptions options, TextWriter stdout, TextWriter stderr) => WithClient(stderr, "delete", client =>
    {
        RuleLoadResult result;
        try
        {
            result = RuleLoader.DeleteByKey(client, key, options);
        }
        catch (InvalidDataException e)
        {
            stderr.WriteLine($"sluice-agent rules delete: {e.Message}");
            return ExitKernel;
        }
        stdout.WriteLine($"deleted {result.Deleted.Count} rule(s) with key {key}");
        if (result.Foreign.Count > 0)
        {
            stderr.WriteLine($"left {result.Foreign.Count} rule(s) with key {key} that Sluice did not add (use --own-all-rules to delete them too)");
        }
        return 0;
    });

    private static bool ReportErrors(RuleSet set, TextWriter stderr, string verb)
    {
        foreach (var w in set.Warnings)
        {
            stderr.WriteLine($"warning: {w}");
        }
        if (set.IsValid)
        {
            return true;
        }
        foreach (var e in set.Errors)
        {
            stderr.WriteLine(e.ToString());
        }
        stderr.WriteLine($"sluice-agent rules {verb}: {set.Errors.Count} error(s); nothing loaded");
        return false;
    }

    private static int WithClient(TextWriter stderr, string verb, Func<AuditControlClient, int> action)
    {
        try
        {
            using var client = AuditControlClient.Open();
            return action(client);
        }
        catch (AuditException e)
        {
            stderr.WriteLine($"sluice-agent rules {verb}: {e.Message}");
            return e.Kind == AuditErrorKind.PermissionDenied ? ExitPermission : ExitKernel;
        }
    }

    private static string Describe(RuleControl c) => c.Kind switch
    {
        RuleControlKind.DeleteAll => c.Key is null ? "-D" : $"-D -k {c.Key.Replace('\x01', ',')}",
        RuleControlKind.BacklogLimit => $"-b {c.Value}",
        RuleControlKind.FailureMode => $"-f {c.Value}",
        RuleControlKind.Enabled => $"-e {c.Value}",
        RuleControlKind.RateLimit => $"-r {c.Value}",
        RuleControlKind.BacklogWaitTime => $"--backlog_wait_time {c.Value}",
        RuleControlKind.LoginUidImmutable => "--loginuid-immutable",
        RuleControlKind.IgnoreErrors => "-i",
        _ => "-c",
    };
}
