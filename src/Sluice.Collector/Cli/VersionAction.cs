using System.CommandLine;
using System.CommandLine.Invocation;
using Sluice.Protocol;

namespace Sluice.Collector.Cli;

/// <summary><c>sluice-collector --version</c>: <c>sluice-collector 0.1.0</c>, name and version (<see cref="ProductVersion"/>), not the bare build string System.CommandLine prints.</summary>
internal sealed class VersionAction : SynchronousCommandLineAction
{
    public const string Program = "sluice-collector";

    /// <summary>Makes the root command's <c>--version</c> print <see cref="ProductVersion.Line"/>.</summary>
    public static void Use(RootCommand root)
    {
        root.Options.OfType<VersionOption>().Single().Action = new VersionAction();
    }

    public override int Invoke(ParseResult parseResult)
    {
        parseResult.InvocationConfiguration.Output.WriteLine(ProductVersion.Line(Program));
        return 0;
    }
}
