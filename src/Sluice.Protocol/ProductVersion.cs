using System.Reflection;

namespace Sluice.Protocol;

/// <summary>
/// Sluice's version, set in one place: <c>&lt;Version&gt;</c> in Directory.Build.props, which every
/// assembly of the solution carries. <c>--version</c> of both programs, the agent's heartbeat and
/// <c>sluice-agent status</c> report it, and deploy/build-deb.sh names the Debian packages after it.
/// </summary>
public static class ProductVersion
{
    /// <summary>The version, e.g. <c>0.1.0</c>: the informational version without the build metadata (<c>+commit</c>) the SDK appends.</summary>
    public static string Current { get; } = Of(typeof(ProductVersion).Assembly);

    /// <summary><c>NAME VERSION</c>, what <c>--version</c> prints, e.g. <c>sluice-agent 0.1.0</c>.</summary>
    public static string Line(string program) => $"{program} {Current}";

    internal static string Of(Assembly assembly)
    {
        string? informational = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        if (string.IsNullOrEmpty(informational))
        {
            return assembly.GetName().Version?.ToString(3) ?? "unknown";
        }
        int plus = informational.IndexOf('+', StringComparison.Ordinal);
        return plus < 0 ? informational : informational[..plus];
    }
}
