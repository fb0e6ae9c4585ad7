using Sluice.Audit.Tables;

namespace Sluice.Audit.Tests.Tables;

public class AuditArchTests
{
    [Theory]
    [InlineData("b64", AuditArch.X86_64)]
    [InlineData("b32", AuditArch.I386)]
    [InlineData("x86_64", AuditArch.X86_64)]
    [InlineData("i386", AuditArch.I386)]
    [InlineData("i686", AuditArch.I386)]
    [InlineData("aarch64", AuditArch.Aarch64)]
    [InlineData("arm64", AuditArch.Aarch64)]
    public void TryParse_DefaultMachine_ResolvesAsOnX86_64(string name, uint expected)
    {
        Assert.True(AuditArch.TryParse(name, out uint arch));
        Assert.Equal(expected, arch);
    }

    [Theory]
    [InlineData("b64", AuditArch.Aarch64)]
    [InlineData("b32", AuditArch.Arm)]
    public void TryParse_OnAarch64_ResolvesBitnessToArm(string name, uint expected)
    {
        Assert.True(AuditArch.TryParse(name, AuditArch.Aarch64, out uint arch));
        Assert.Equal(expected, arch);
    }

    [Fact]
    public void TryParse_B64OnI386Machine_Fails()
    {
        Assert.False(AuditArch.TryParse("b64", AuditArch.I386, out _));
    }

    [Theory]
    [InlineData("")]
    [InlineData("B64")]
    [InlineData("sparc")]
    public void TryParse_Unknown_Fails(string name)
    {
        Assert.False(AuditArch.TryParse(name, out _));
    }

    [Fact]
    public void Name_KnownArches_MachineNames()
    {
        Assert.Equal("x86_64", AuditArch.Name(AuditArch.X86_64));
        Assert.Equal("i386", AuditArch.Name(AuditArch.I386));
        Assert.Equal("aarch64", AuditArch.Name(AuditArch.Aarch64));
        Assert.Null(AuditArch.Name(0));
    }
}
