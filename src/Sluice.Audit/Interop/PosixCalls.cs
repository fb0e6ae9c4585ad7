using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;
using Tmds.Linux;

namespace Sluice.Audit.Interop;

/// <summary>
/// The libc calls the agent makes besides the audit socket, for what .NET has no API for: a SIGTERM
/// to another process, fsync of a directory, and reads of <c>/proc</c> files that do not throw. Like the rest of the interop layer they return the
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

    /// <summary>
    /// Reads a small file whole, or its first <paramref name="buffer"/>.Length bytes: open(2), read(2) until
    /// the buffer is full or the end, close(2). For <c>/proc</c> files, where a process that has gone makes
    /// every open fail: an errno here, where .NET's file API would throw (and an exception per short-lived
    /// process was most of what reading its <c>/proc</c> cost).
    /// </summary>
    /// <param name="path">The path as UTF-8, ending in a NUL byte.</param>
    /// <returns>The bytes read (0 or more), or −errno.</returns>
    public static unsafe int ReadFile(ReadOnlySpan<byte> path, Span<byte> buffer)
    {
        if (path.IsEmpty || path[^1] != 0)
        {
            throw new ArgumentException("the path must end in a NUL byte", nameof(path));
        }
        int fd;
        fixed (byte* p = path)
        {
            fd = LibC.open(p, LibC.O_RDONLY | LibC.O_CLOEXEC);
        }
        if (fd < 0)
        {
            return -LibC.errno;
        }
        int total = 0;
        try
        {
            fixed (byte* b = buffer)
            {
                while (total < buffer.Length)
                {
                    long n = LibC.read(fd, b + total, buffer.Length - total);
                    if (n < 0)
                    {
                        int errno = LibC.errno;
                        if (errno == LibC.EINTR)
                        {
                            continue;
                        }
                        return -errno;
                    }
                    if (n == 0)
                    {
                        break;
                    }
                    total += (int)n;
                }
            }
        }
        finally
        {
            LibC.close(fd);
        }
        return total;
    }

    /// <summary>readlink(2) into <paramref name="buffer"/> (the target is cut to its length).</summary>
    /// <param name="path">The path as UTF-8, ending in a NUL byte.</param>
    /// <returns>The target's length in bytes, or −errno.</returns>
    public static unsafe int ReadLink(ReadOnlySpan<byte> path, Span<byte> buffer)
    {
        if (path.IsEmpty || path[^1] != 0)
        {
            throw new ArgumentException("the path must end in a NUL byte", nameof(path));
        }
        fixed (byte* p = path)
        fixed (byte* b = buffer)
        {
            long n = LibC.readlink(p, b, buffer.Length);
            return n < 0 ? -LibC.errno : (int)n;
        }
    }

    /// <summary>fsync(2): for a directory, makes the names created, renamed or deleted in it durable.</summary>
    /// <returns>0, or the errno.</returns>
    public static int Fsync(SafeFileHandle handle) => Interop.fsync(handle) != 0 ? Marshal.GetLastPInvokeError() : 0;
}
