using Sluice.Testing;

namespace Sluice.Agent.Tests.EndToEnd;

/// <summary>
/// Base of an end-to-end test through the kernel and a real collector process: the kernel's audit state is put back
/// as the test found it, and the collector stopped, whatever happened in the test.
/// </summary>
public abstract class EndToEndTest : IDisposable
{
    private readonly KernelStateGuard _guard = new();

    private protected CollectorProcess Collector { get; } = new();

    public void Dispose()
    {
        Collector.Dispose();
        _guard.Dispose();
        GC.SuppressFinalize(this);
    }
}
