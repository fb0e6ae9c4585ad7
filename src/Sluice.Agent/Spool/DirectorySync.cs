using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace Sluice.Agent.Spool;

/// <summary>
/// fsync of a directory, so that a created, renamed or deleted file name survives a power loss
/// (a file's own fsync does not cover its directory entry: fsync(2), "Notes"). .NET cannot open a
/// directory as a file handle, hence the two libc calls.
/// </summary>
internal static class DirectorySync
{
    public static unsafe void Flush(string directory)
    {
        int fd;
        fixed (byte* path = System.Text.Encoding.UTF8.GetBytes(directory + "\0"))
        {
            fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        }
        if (fd < 0)
        {
            throw new IOException($"cannot open spool directory {directory} to sync it: errno {errno}");
        }
        try
        {
            if (fsync(fd) != 0)
            {
                throw new IOException($"fsync of spool directory {directory} failed: errno {errno}");
            }
        }
        finally
        {
            close(fd);
        }
    }
}
