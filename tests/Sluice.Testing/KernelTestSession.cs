using Sluice.Audit.Netlink;

namespace Sluice.Testing;

/// <summary>
/// One kernel test's session: a <see cref="KernelStateGuard"/> (restored on Dispose, even on failure)
/// and a control client, with audit enabled and <c>backlog_wait_time</c> 0 so a test never stalls the machine.
/// </summary>
public sealed class KernelTestSession : IDisposable
{
    private readonly KernelStateGuard _guard = new();

    public KernelTestSession()
    {
        Control = AuditControlClient.Open();
        // Never let a test stall the machine: a full backlog drops instead of sleeping.
        Control.SetBacklogWaitTime(0);
        Control.SetEnabled(1);
    }

    public AuditControlClient Control { get; }

    public void Dispose()
    {
        Control.Dispose();
        _guard.Dispose();
    }
}
