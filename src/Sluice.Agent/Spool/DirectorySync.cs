using Microsoft.Win32.SafeHandles;
using Sluice.Audit.Interop;

namespace Sluice.Agent.Spool;

/// <summary>
/// fsync of a directory, so that a created, renamed or deleted file name survives a power loss
/// (a file's own fsync does not cover its directory entry: fsync(2), "Notes"). .NET cannot open a
/// directory as a file handle, hence the two libc calls, behind the interop wall in Sluice.Audit.
/// </summary>
internal static class DirectorySync
{
    public static void Flush(string directory)
    {
        using SafeFileHandle? handle = PosixCalls.OpenDirectory(directory, out int errno);
        if (handle is null)
        {
            throw new IOException($"cannot open spool directory {directory} to sync it: errno {errno}");
        }
        errno = PosixCalls.Fsync(handle);
        if (errno != 0)
        {
            throw new IOException($"fsync of spool directory {directory} failed: errno {errno}");
        }
    }
}
