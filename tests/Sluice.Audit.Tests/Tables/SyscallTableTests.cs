using System.Diagnostics;
using Sluice.Audit.Tables;

namespace Sluice.Audit.Tests.Tables;

public class SyscallTableTests
{
    [Theory]
    [InlineData(AuditArch.X86_64, "execve", 59)]
    [InlineData(AuditArch.I386, "execve", 11)]
    [InlineData(AuditArch.Aarch64, "execve", 221)]
    [InlineData(AuditArch.X86_64, "getppid", 110)]
    [InlineData(AuditArch.I386, "getppid", 64)]
    [InlineData(AuditArch.Aarch64, "getppid", 173)]
    [InlineData(AuditArch.X86_64, "openat", 257)]
    [InlineData(AuditArch.I386, "openat", 295)]
    [InlineData(AuditArch.Aarch64, "openat", 56)]
    [InlineData(AuditArch.X86_64, "read", 0)]
    [InlineData(AuditArch.I386, "socketcall", 102)]
    [InlineData(AuditArch.X86_64, "clone3", 435)]
    [InlineData(AuditArch.Aarch64, "fcntl", 25)]
    [InlineData(AuditArch.Aarch64, "renameat", 38)]
    [InlineData(AuditArch.Aarch64, "memfd_secret", 447)]
    [InlineData(AuditArch.X86_64, "pread", 17)]
    [InlineData(AuditArch.X86_64, "pread64", 17)]
    public void TryGetNumber_KnownSyscall_ReturnsKernelNumber(uint arch, string name, int expected)
    {
        Assert.True(SyscallTable.TryGetNumber(arch, name, out int number));
        Assert.Equal(expected, number);
    }

    [Theory]
    [InlineData(AuditArch.X86_64, 59, "execve")]
    [InlineData(AuditArch.I386, 11, "execve")]
    [InlineData(AuditArch.Aarch64, 221, "execve")]
    [InlineData(AuditArch.X86_64, 17, "pread")]
    [InlineData(AuditArch.Aarch64, 80, "newfstat")]
    [InlineData(AuditArch.I386, 5, "open")]
    public void TryGetName_KnownNumber_ReturnsPrintedName(uint arch, int number, string expected)
    {
        Assert.True(SyscallTable.TryGetName(arch, number, out var name));
        Assert.Equal(expected, name);
    }

    [Theory]
    [InlineData(AuditArch.Aarch64, "open")] // aarch64 has only openat
    [InlineData(AuditArch.X86_64, "socketcall")]
    [InlineData(AuditArch.X86_64, "nosuchcall")]
    [InlineData(0x12345u, "execve")]
    public void TryGetNumber_UnknownForArch_ReturnsFalse(uint arch, string name)
    {
        Assert.False(SyscallTable.TryGetNumber(arch, name, out _));
    }

    [Theory]
    [InlineData(AuditArch.X86_64, -1)]
    [InlineData(AuditArch.X86_64, 100000)]
    [InlineData(AuditArch.Aarch64, 244)] // arch_specific_syscall is a range marker, not a syscall
    public void TryGetName_UnknownNumber_ReturnsFalse(uint arch, int number)
    {
        Assert.False(SyscallTable.TryGetName(arch, number, out var name));
        Assert.Null(name);
    }

    [Fact]
    public void TryGetName_EveryNumberedName_RoundTrips()
    {
        foreach (uint arch in new[] { AuditArch.X86_64, AuditArch.I386, AuditArch.Aarch64 })
        {
            int count = 0;
            for (int n = 0; n <= SyscallTable.MaxNumber(arch); n++)
            {
                if (SyscallTable.TryGetName(arch, n, out var name))
                {
                    count++;
                    Assert.True(SyscallTable.TryGetNumber(arch, name, out int back), $"{name} on {AuditArch.Name(arch)}");
                    Assert.Equal(n, back);
                }
            }
            Assert.True(count > 290, $"only {count} syscalls for {AuditArch.Name(arch)}");
        }
    }

    [Fact]
    public void Generator_RunOnCommittedInputs_ReproducesCommittedTables()
    {
        string tables = Path.Combine(RepoPaths.Root, "src", "Sluice.Audit", "Tables");
        string output = Directory.CreateTempSubdirectory("sluice-tables-").FullName;
        try
        {
            var psi = new ProcessStartInfo("bash", [Path.Combine(tables, "Generator", "generate.sh"), output])
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            };
            using var p = Process.Start(psi)!;
            string stderr = p.StandardError.ReadToEnd();
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, $"generate.sh failed: {stderr}");
            var generated = Directory.GetFiles(output, "*.g.cs").Select(f => Path.GetFileName(f)).Order().ToArray();
            Assert.Equal(new[] { "AuditMessageType.g.cs", "Errno.g.cs", "SyscallData.g.cs" }, generated);
            foreach (var name in generated)
            {
                Assert.True(File.ReadAllText(Path.Combine(tables, name)) == File.ReadAllText(Path.Combine(output, name)),
                    $"{name} is stale: run src/Sluice.Audit/Tables/Generator/generate.sh and commit the result");
            }
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }
}
