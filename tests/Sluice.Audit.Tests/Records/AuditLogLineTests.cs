using System.Text;
using Sluice.Audit.Records;
using Sluice.Audit.Tables;

namespace Sluice.Audit.Tests.Records;

public sealed class AuditLogLineTests
{
    private static AuditParseError Parse(string line, out int type, out string node, out string kernel, out string enriched)
    {
        var error = AuditLogLine.TryParse(Encoding.UTF8.GetBytes(line), out AuditLogLine parsed);
        type = (int)parsed.Type;
        node = Encoding.UTF8.GetString(parsed.Node);
        kernel = Encoding.UTF8.GetString(parsed.KernelText);
        enriched = Encoding.UTF8.GetString(parsed.Enriched);
        return error;
    }

    [Fact]
    public void TryParse_RawLine_SplitsTypeAndKernelText()
    {
        var error = Parse("type=SYSCALL msg=audit(1.002:3): arch=c000003e\n", out int type, out string node, out string kernel, out string enriched);

        Assert.Equal(AuditParseError.None, error);
        Assert.Equal(1300, type);
        Assert.Equal("", node);
        Assert.Equal("audit(1.002:3): arch=c000003e", kernel);
        Assert.Equal("", enriched);
    }

    [Fact]
    public void TryParse_NodeAndEnriched_KeptApart()
    {
        var error = Parse("node=web-1 type=PATH msg=audit(1.002:3): name=\"/x\"\u001dOUID=\"root\" OGID=\"root\"", out int type, out string node, out string kernel, out string enriched);

        Assert.Equal(AuditParseError.None, error);
        Assert.Equal(1302, type);
        Assert.Equal("web-1", node);
        Assert.Equal("audit(1.002:3): name=\"/x\"", kernel);
        Assert.Equal("OUID=\"root\" OGID=\"root\"", enriched);
    }

    [Fact]
    public void TryParse_UnknownTypeNumber_UsesTheNumber()
    {
        var error = Parse("type=UNKNOWN[1999] msg=audit(1.002:3): x=1", out int type, out _, out _, out _);

        Assert.Equal(AuditParseError.None, error);
        Assert.Equal(1999, type);
    }

    [Theory]
    [InlineData("", AuditParseError.BadLength)]
    [InlineData("hello world", AuditParseError.BadType)]
    [InlineData("type=NOT_A_TYPE msg=audit(1.002:3): x=1", AuditParseError.BadType)]
    [InlineData("type=UNKNOWN[x] msg=audit(1.002:3): x=1", AuditParseError.BadType)]
    [InlineData("type=SYSCALL", AuditParseError.BadType)]
    [InlineData("type=SYSCALL audit(1.002:3): x=1", AuditParseError.BadHeader)]
    [InlineData("type=SYSCALL msg=audit(1.002): x=1", AuditParseError.BadHeader)]
    public void TryParse_Malformed_NamesTheReason(string line, AuditParseError expected)
    {
        Assert.Equal(expected, Parse(line, out _, out _, out _, out _));
    }
}
