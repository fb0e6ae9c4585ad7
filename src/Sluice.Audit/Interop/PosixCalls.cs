using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;
using Tmds.Linux;

namespace Sluice.Audit.Interop;

/// <summary>
/// The libc calls the agent makes besides the audit socket, for what .NET has no API for: a SIGTERM
/// to another process, and fsync of a directory. Like the rest of the interop layer they return the
/// errno instead of throwing, so the caller words the error with what it knows.
/// </summary>
public static class PosixCalls
{
    /// <summary>kill(2) with SIGTERM.</summary>
    /// <returns>0, or the errno.</returns>
    public static int Terminate(int pid) => LibC.kill(pid, LibC.SIGTERM) < 0 ? LibC.errno : 0;

    /// <summary>
    /// Opens a directory read-only (O_DIRECTORY | O_CLOEXEC), to <see cref="Fsync"/> it: .NET does not open a
    /// directory as a file handle.
    /// </summary>
    /// <returns>The handle (closed when disposed), or null with <paramref name="errno"/> set.</returns>
    public static unsafe SafeFileHandle? OpenDirectory(string path, out int errno)
    {
        int fd;
        fixed (byte* p = Encoding.UTF8.GetBytes(path + "\0"))
        {
            fd = LibC.open(p, LibC.O_RDONLY | LibC.O_DIRECTORY | LibC.O_CLOEXEC);
        }
        if (fd < 0)
        {
            errno = LibC.errno;
            return null;
        }
        errno = 0;
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>fsync(2): for a directory, makes the names created, renamed or deleted in it durable.</summary>
    /// <returns>0, or the errno.</returns>
    public static int Fsync(SafeFileHandle handle) => Interop.fsync(handle) != 0 ? Marshal.GetLastPInvokeError() : 0;
}
