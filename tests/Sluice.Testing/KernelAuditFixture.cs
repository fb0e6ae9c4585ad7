using Sluice.Audit.Netlink;

namespace Sluice.Testing;

/// <summary>
/// Shared by every test that touches the kernel's audit state: holds the machine-wide
/// <see cref="KernelLock"/> for the whole collection, checks the preconditions, and at the end
/// puts back the status and rules it found, whatever the tests did.
/// </summary>
/// <remarks>
/// Declare it in each test assembly with
/// <c>[CollectionDefinition(KernelAuditFixture.Collection, DisableParallelization = true)]</c>.
/// </remarks>
public sealed class KernelAuditFixture : IDisposable
{
    public const string Collection = "kernel audit";

    private readonly KernelLock _lock;
    private readonly KernelSnapshot _snapshot;

    public KernelAuditFixture()
    {
        if (!IsRoot)
        {
            // Not a skip: a kernel test that cannot run must say so (docs/kernel-audit.md, "Testing on the real kernel").
            throw new InvalidOperationException("kernel audit tests need root (CAP_AUDIT_CONTROL): run the tests as root");
        }
        _lock = KernelLock.Acquire(TimeSpan.FromMinutes(30));
        try
        {
            // Not part of the state to restore: rules of an earlier test run that was killed.
            var leftovers = KernelSnapshot.DeleteLeftoverTestRules();
            if (leftovers.Count > 0)
            {
                Console.Error.WriteLine($"kernel audit tests: deleted {leftovers.Count} rule(s) left by an earlier, killed test run: keys {string.Join(" ", leftovers)}");
            }
            _snapshot = KernelSnapshot.Take();
            if (_snapshot.Status.IsImmutable)
            {
                throw new InvalidOperationException("kernel audit is immutable (enabled=2) on this machine until reboot: kernel tests cannot run");
            }
        }
        catch
        {
            _lock.Dispose();
            throw;
        }
    }

    /// <summary>True when the effective uid is 0 (from /proc/self/status).</summary>
    public static bool IsRoot => File.ReadLines("/proc/self/status")
        .First(l => l.StartsWith("Uid:", StringComparison.Ordinal))
        .Split('\t', StringSplitOptions.RemoveEmptyEntries)[2] == "0";

    /// <summary>The state found when the collection started.</summary>
    public KernelSnapshot Snapshot => _snapshot;

    public void Dispose()
    {
        try
        {
            _snapshot.Restore();
        }
        finally
        {
            _lock.Dispose();
        }
    }
}
