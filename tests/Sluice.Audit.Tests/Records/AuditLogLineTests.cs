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

    [Theory]
    // A raw line: the type and the kernel's text.
    [InlineData("type=SYSCALL msg=audit(1.002:3): arch=c000003e\n", 1300, "", "audit(1.002:3): arch=c000003e", "")]
    // A node prefix and auditd's enrichment after the GS separator: kept apart from the kernel's text.
    [InlineData("node=web-1 type=PATH msg=audit(1.002:3): name=\"/x\"\u001dOUID=\"root\" OGID=\"root\"", 1302, "web-1", "audit(1.002:3): name=\"/x\"", "OUID=\"root\" OGID=\"root\"")]
    public void TryParse_WellFormed_SplitsNodeTypeKernelTextAndEnriched(string line, int expectedType, string expectedNode, string expectedKernel, string expectedEnriched)
    {
        var error = Parse(line, out int type, out string node, out string kernel, out string enriched);

        Assert.Equal(AuditParseError.None, error);
        Assert.Equal(expectedType, type);
        Assert.Equal(expectedNode, node);
        Assert.Equal(expectedKernel, kernel);
        Assert.Equal(expectedEnriched, enriched);
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
