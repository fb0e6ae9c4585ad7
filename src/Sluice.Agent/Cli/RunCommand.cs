using System.CommandLine;
using Microsoft.Extensions.Hosting;
using Sluice.Agent.Configuration;
using Sluice.Agent.Hosting;
using Sluice.Agent.Kernel;
using Sluice.Audit.Netlink;

namespace Sluice.Agent.Cli;

/// <summary><c>sluice-agent run [--config FILE]</c>: the agent itself.</summary>
internal static class RunCommand
{
    public static Option<string?> ConfigOption() => new("--config", "-c")
    {
        Description = $"Agent configuration (JSON). Default: {AgentConfiguration.DefaultPath} if it exists, else the embedded defaults. " +
            $"Any key can be overridden by an environment variable {AgentConfiguration.EnvironmentPrefix}Section__Key, e.g. SLUICE_Drain__IntervalMs=50.",
    };

    public static Command Create()
    {
        var config = ConfigOption();
        var command = new Command("run",
            "Take over kernel audit (stop auditd, configure the kernel, load the rules, claim the consumer PID), drain, filter and " +
            "write events until SIGTERM/SIGINT, then restore the host as it was, auditd included.");
        command.Options.Add(config);
        command.SetAction((parse, token) => Run(parse.GetValue(config), Console.Error, token));
        return command;
    }

    /// <summary>Exit codes: 0 clean stop, 1 runtime failure, 2 bad configuration, 3 bad rules file, 4 not permitted.</summary>
    internal static async Task<int> Run(string? configPath, TextWriter stderr, CancellationToken token)
    {
        IHost host;
        try
        {
            // Everything that can be checked without the kernel is checked first: a bad
            // config or rules file must leave the kernel untouched.
            var configuration = AgentConfiguration.Build(configPath);
            host = AgentHost.Build(configuration);
            var options = AgentConfiguration.Resolve(host.Services);
            if (options.Mode == AgentMode.Unicast)
            {
                ((IRulesLoader)host.Services.GetService(typeof(IRulesLoader))!).Validate();
            }
        }
        catch (ConfigurationException e)
        {
            stderr.WriteLine($"sluice-agent: {e.Message}");
            return 2;
        }
        catch (RulesFileException e)
        {
            stderr.WriteLine($"sluice-agent: {e.Message}");
            return 3;
        }
        try
        {
            await host.RunAsync(token);
            return 0;
        }
        catch (AuditException e)
        {
            stderr.WriteLine($"sluice-agent: {e.Message}");
            return e.Kind == AuditErrorKind.PermissionDenied ? 4 : 1;
        }
        catch (Exception e) when (e is TakeoverException or TimeoutException or RulesFileException or ConfigurationException)
        {
            stderr.WriteLine($"sluice-agent: {e.Message}");
            return 1;
        }
        finally
        {
            host.Dispose();
        }
    }
}
