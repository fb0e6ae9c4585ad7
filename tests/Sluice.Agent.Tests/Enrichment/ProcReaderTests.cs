using System.Text;
using Sluice.Agent.Enrichment;

namespace Sluice.Agent.Tests.Enrichment;

public sealed class ProcReaderTests
{
    [Theory]
    [InlineData("1234 (bash) S 1000 1234 1234 34816 1234 4194304 1 2 3 4 5 6 7 8 20 0 1 0 987654 1 2 3", 1000, 987654L, 'S')]
    [InlineData("1234 (a) b) c (d) Z 77 1 1 0 -1 4194304 1 2 3 4 5 6 7 8 20 0 1 0 42 1 2 3", 77, 42L, 'Z')]
    [InlineData("1234 (evil\n) 1 2 3) R 5 1 1 0 -1 4194304 1 2 3 4 5 6 7 8 20 0 1 0 99 1 2 3", 5, 99L, 'R')]
    public void Stat_FieldsCountedAfterTheLastParenthesis(string stat, int ppid, long start, char state)
    {
        Assert.True(ProcReader.TryParseStat(Encoding.UTF8.GetBytes(stat), out int p, out long s, out byte st));
        Assert.Equal((ppid, start, (byte)state), (p, s, st));
    }

    [Theory]
    [InlineData("")]
    [InlineData("1234 (bash")]
    [InlineData("1234 (bash) S x")]
    [InlineData("1234 (bash) S 1 2 3")]
    public void Stat_Truncated_IsRefused(string stat) =>
        Assert.False(ProcReader.TryParseStat(Encoding.UTF8.GetBytes(stat), out _, out _, out _));

    [Fact]
    public void Cmdline_BoundedByCountAndBytes()
    {
        var (argv, truncated) = ProcReader.SplitCmdline("a\0bb\0ccc\0"u8, 2, 100);
        Assert.Equal(["a", "bb"], argv.Select(Encoding.ASCII.GetString));
        Assert.True(truncated);
        (argv, truncated) = ProcReader.SplitCmdline("abcdef\0gh\0"u8, 10, 4);
        Assert.Equal(["abcd"], argv.Select(Encoding.ASCII.GetString));
        Assert.True(truncated);
        (argv, truncated) = ProcReader.SplitCmdline("x\0"u8, 10, 100);
        Assert.Equal(["x"], argv.Select(Encoding.ASCII.GetString));
        Assert.False(truncated);
    }

    [Fact]
    public void Self_IsReadWithStartTimeAndCgroup()
    {
        var proc = ProcReader.Host(32, 1024);
        var me = proc.Read(Environment.ProcessId)!;

        Assert.True(me.StartTicks > 0);
        Assert.InRange(me.StartUnixMs, DateTimeOffset.UtcNow.AddDays(-30).ToUnixTimeMilliseconds(), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 1000);
        Assert.NotNull(me.Cgroup);
        Assert.NotEmpty(me.Exe);
        Assert.Null(proc.Read(int.MaxValue));
    }

    [Fact]
    public void ImageFromEvent_ReadsStartTimeAndCgroupOnly_AndAGonePidIsNullWithoutThrowing()
    {
        var proc = ProcReader.Host(32, 1024);
        var full = proc.Read(Environment.ProcessId)!;
        var light = proc.Read(Environment.ProcessId, imageFromEvent: true)!;

        Assert.Equal((full.Ppid, full.StartTicks, full.StartUnixMs), (light.Ppid, light.StartTicks, light.StartUnixMs));
        Assert.Equal(full.Cgroup, light.Cgroup);
        Assert.Empty(light.Exe);
        Assert.Empty(light.Argv);
        Assert.Empty(light.Cwd);
        Assert.Null(light.Uid);
        Assert.Equal(File.ReadAllText($"/proc/{Environment.ProcessId}/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries)[0],
            Encoding.UTF8.GetString(full.Argv[0]));

        // A process that has gone: every file is refused with ENOENT (an errno, not an exception).
        int pid;
        using (var gone = System.Diagnostics.Process.Start("/bin/true")!)
        {
            gone.WaitForExit();
            pid = gone.Id;
        }
        Assert.Null(proc.Read(pid));
        Assert.Null(proc.Read(pid, imageFromEvent: true));
    }

    [Fact]
    public void FakeRoot_PathsBuiltUnderIt()
    {
        string root = Directory.CreateTempSubdirectory("sluice-proc-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(root, "42"));
            File.WriteAllText(Path.Combine(root, "stat"), "cpu 1 2 3\nbtime 1700000000\n");
            File.WriteAllText(Path.Combine(root, "42", "stat"), "42 (x) S 7 42 42 0 -1 4194304 1 2 3 4 5 6 7 8 20 0 1 0 250 1 2 3");
            File.WriteAllText(Path.Combine(root, "42", "cgroup"), "0::/system.slice/ssh.service\n");
            File.WriteAllText(Path.Combine(root, "42", "cmdline"), "sshd\0-D\0");
            var info = new ProcReader(root, 32, 1024).Read(42)!;

            Assert.Equal(7, info.Ppid);
            Assert.Equal(1_700_000_000_000L + 2_500, info.StartUnixMs);
            Assert.Equal("ssh.service", info.CgroupInfo!.Unit);
            Assert.Equal(["sshd", "-D"], info.Argv.Select(Encoding.UTF8.GetString));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
