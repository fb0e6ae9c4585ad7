namespace Sluice.Audit.Tests.Interop;

/// <summary>Native calls of the agent and the audit library stay behind one wall: src/Sluice.Audit/Interop.</summary>
public sealed class InteropWallTests
{
    [Theory]
    [InlineData("Sluice.Audit")]
    [InlineData("Sluice.Agent")]
    public void NativeCalls_OnlyUnderSluiceAuditInterop(string project)
    {
        string src = Path.Combine(RepoPaths.Root, "src");
        string wall = Path.Combine(src, "Sluice.Audit", "Interop") + Path.DirectorySeparatorChar;
        var outside = Directory.EnumerateFiles(Path.Combine(src, project), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.StartsWith(wall, StringComparison.Ordinal))
            .Where(f => File.ReadLines(f).Any(l => l.Contains("DllImport") || l.Contains("LibraryImport") || l.Contains("Tmds.")))
            .Select(f => Path.GetRelativePath(src, f))
            .ToList();
        Assert.True(outside.Count == 0, "native calls outside src/Sluice.Audit/Interop: " + string.Join(", ", outside));
    }
}
