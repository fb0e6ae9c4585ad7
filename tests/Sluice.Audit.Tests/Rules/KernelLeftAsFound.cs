using Sluice.Testing;

namespace Sluice.Audit.Tests.Rules;

/// <summary>Restores the kernel after a test and fails the test if anything differs from before it.</summary>
internal static class KernelLeftAsFound
{
    public static void RestoreAndVerify(KernelStateGuard guard)
    {
        guard.Dispose();
        var diffs = guard.Before.Differences(KernelSnapshot.Take());
        // lost and backlog move on their own; Differences compares settings and rules only.
        if (diffs.Count > 0)
        {
            throw new InvalidOperationException("the kernel was not left as found: " + string.Join("; ", diffs));
        }
    }
}
