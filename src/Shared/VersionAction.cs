using System.CommandLine;
using System.CommandLine.Invocation;
using Sluice.Protocol;

namespace Sluice.Cli;

/// <summary>
/// <c>--version</c> of both programs: <c>sluice-agent 0.1.0</c>, the program's name and <see cref="ProductVersion"/>,
/// not the bare build string System.CommandLine prints. Compiled into each program (linked from src/Shared).
/// </summary>
internal sealed class VersionAction(string program) : SynchronousCommandLineAction
{
    /// <summary>Makes the root command's <c>--version</c> print <see cref="ProductVersion.Line"/> for <paramref name="program"/>.</summary>
    public static void Use(RootCommand root, string program)
    {
        root.Options.OfType<VersionOption>().Single().Action = new VersionAction(program);
    }

    public override int Invoke(ParseResult parseResult)
    {
        parseResult.InvocationConfiguration.Output.WriteLine(ProductVersion.Line(program));
        return 0;
    }
}
