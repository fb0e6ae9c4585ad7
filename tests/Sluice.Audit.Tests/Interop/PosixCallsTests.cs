using System.Diagnostics;
using Sluice.Audit.Interop;
using Sluice.Audit.Tables;

namespace Sluice.Audit.Tests.Interop;

public sealed class PosixCallsTests
{
    [Fact]
    public void Terminate_Child_EndsItWithSigterm()
    {
        using var child = Process.Start(new ProcessStartInfo("sleep", "60"))!;

        Assert.Equal(0, PosixCalls.Terminate(child.Id));

        Assert.True(child.WaitForExit(10_000));
        Assert.Equal(128 + 15, child.ExitCode); // .NET reports a signalled child as 128 + the signal
    }

    [Fact]
    public void Terminate_NoSuchProcess_ReturnsEsrch()
    {
        // pid_max is at most 2^22: this pid cannot exist
        Assert.Equal(Errno.ESRCH, PosixCalls.Terminate(int.MaxValue));
    }

    [Fact]
    public void OpenDirectoryAndFsync_Directory_Succeeds()
    {
        string dir = Directory.CreateTempSubdirectory("sluice-fsync-").FullName;
        try
        {
            using var handle = PosixCalls.OpenDirectory(dir, out int errno);
            Assert.NotNull(handle);
            Assert.Equal(0, errno);
            Assert.Equal(0, PosixCalls.Fsync(handle));
        }
        finally
        {
            Directory.Delete(dir);
        }
    }

    [Fact]
    public void OpenDirectory_FileOrMissing_ReturnsTheErrno()
    {
        string file = Path.GetTempFileName();
        try
        {
            Assert.Null(PosixCalls.OpenDirectory(file, out int notDir));
            Assert.Equal(Errno.ENOTDIR, notDir);
            Assert.Null(PosixCalls.OpenDirectory(file + ".missing", out int missing));
            Assert.Equal(Errno.ENOENT, missing);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
