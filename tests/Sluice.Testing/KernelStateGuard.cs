namespace Sluice.Testing;

/// <summary>
/// Per-test snapshot of the kernel's audit state, restored on Dispose even when the test
/// fails. Create one in a test class constructor and dispose it in the class's Dispose.
/// </summary>
public sealed class KernelStateGuard : IDisposable
{
    private readonly KernelSnapshot _before = KernelSnapshot.Take();

    public KernelSnapshot Before => _before;

    public void Dispose() => _before.Restore();
}
