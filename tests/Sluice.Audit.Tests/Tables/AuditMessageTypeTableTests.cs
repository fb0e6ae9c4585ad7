using System.Text.RegularExpressions;
using Sluice.Audit.Tables;

namespace Sluice.Audit.Tests.Tables;

public partial class AuditMessageTypeTableTests
{
    [Theory]
    [InlineData("SYSCALL", 1300)]
    [InlineData("PATH", 1302)]
    [InlineData("CONFIG_CHANGE", 1305)]
    [InlineData("EXECVE", 1309)]
    [InlineData("EOE", 1320)]
    [InlineData("PROCTITLE", 1327)]
    [InlineData("REPLACE", 1329)]
    [InlineData("USER_AUTH", 1100)]
    [InlineData("USER_ACCT", 1101)]
    [InlineData("CRED_ACQ", 1103)]
    [InlineData("USER_CHAUTHTOK", 1108)]
    [InlineData("USER_LOGIN", 1112)]
    [InlineData("ADD_USER", 1114)]
    [InlineData("DEL_USER", 1115)]
    [InlineData("USER_CMD", 1123)]
    [InlineData("DAEMON_START", 1200)]
    [InlineData("AVC", 1400)]
    [InlineData("ANOM_PROMISCUOUS", 1700)]
    [InlineData("ANOM_ABEND", 1701)]
    [InlineData("APPARMOR", 1500)]
    [InlineData("KERNEL", 2000)]
    public void TryGetType_PrintedName_ReturnsType(string name, int expected)
    {
        Assert.True(AuditMessageTypeTable.TryGetType(name, out AuditMessageType type));
        Assert.Equal(expected, (int)type);
        Assert.Equal(name, AuditMessageTypeTable.Name(type));
        Assert.True(AuditMessageTypeTable.TryGetType(System.Text.Encoding.ASCII.GetBytes(name), out AuditMessageType fromBytes));
        Assert.Equal(type, fromBytes);
    }

    [Fact]
    public void Name_RangeMarkersAndUnknown_AreNotNames()
    {
        Assert.False(AuditMessageTypeTable.TryGetType("FIRST_USER_MSG", out _));
        Assert.False(AuditMessageTypeTable.TryGetType("INTEGRITY_FIRST_MSG", out _));
        Assert.Null(AuditMessageTypeTable.Name((AuditMessageType)2999));
        Assert.Equal("UNKNOWN[2999]", AuditMessageTypeTable.NameOrUnknown((AuditMessageType)2999));
        Assert.Equal("UNKNOWN[70000]", AuditMessageTypeTable.NameOrUnknown(70000u));
        Assert.Null(AuditMessageTypeTable.Name(70000u + 1300));
    }

    [Fact]
    public void TryGetType_EveryTypeInCorpus_Resolves()
    {
        var names = new HashSet<string>();
        foreach (var file in new[] { RepoPaths.Fixture("rules", "record-types-sample.log") })
        {
            foreach (var line in File.ReadLines(file))
            {
                var m = TypeName().Match(line);
                if (m.Success)
                {
                    names.Add(m.Groups[1].Value);
                }
            }
        }
        Assert.True(names.Count >= 15, $"fixture corpus has only {names.Count} types");
        foreach (var name in names)
        {
            Assert.True(AuditMessageTypeTable.TryGetType(name, out _), $"type={name} from the corpus does not resolve");
        }
    }

    [Fact]
    public void Members_ArePrintedNamesInPascalCase()
    {
        // the enum and the names come from one generator run; each member is its printed name
        foreach (var (name, type) in AuditMessageTypeTable.All)
        {
            Assert.Equal(name.Replace("_", ""), type.ToString(), ignoreCase: true);
        }
        Assert.Equal(1300, (int)AuditMessageType.Syscall);
        Assert.Equal(1320, (int)AuditMessageType.Eoe);
        Assert.Equal(1200, (int)AuditMessageTypeRange.FirstDaemon);
        Assert.Equal(1299, (int)AuditMessageTypeRange.LastDaemon);
        Assert.Equal(2100, (int)AuditMessageTypeRange.FirstUserMsg2);
    }

    [GeneratedRegex(@"^(?:node=\S+ )?type=([A-Z0-9_]+) ")]
    private static partial Regex TypeName();
}
