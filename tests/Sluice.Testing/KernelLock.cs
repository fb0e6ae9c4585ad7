namespace Sluice.Testing;

/// <summary>
/// A machine-wide lock on the kernel's audit state. Test assemblies run as separate processes
/// (dotnet test runs projects in parallel), so an xunit collection alone cannot keep two of
/// them from changing the same global kernel settings at once.
/// </summary>
public sealed class KernelLock : IDisposable
{
    public const string DefaultPath = "/run/lock/sluice-kernel-audit-tests.lock";

    private readonly FileStream _stream;

    private KernelLock(FileStream stream) => _stream = stream;

    /// <summary>Waits for the lock (the .NET runtime takes an flock for FileShare.None).</summary>
    public static KernelLock Acquire(TimeSpan timeout, string path = DefaultPath)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                return new KernelLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(100);
            }
        }
    }

    public void Dispose() => _stream.Dispose();
}
