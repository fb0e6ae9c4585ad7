using System.Text.RegularExpressions;
using Sluice.Audit.Tables;

namespace Sluice.Audit.Tests.Tables;

public partial class RecordTypeTableTests
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
    public void TryGetNumber_PrintedName_ReturnsType(string name, int expected)
    {
        Assert.True(RecordTypeTable.TryGetNumber(name, out int type));
        Assert.Equal(expected, type);
        Assert.Equal(name, RecordTypeTable.Name(type));
    }

    [Fact]
    public void Name_RangeMarkersAndUnknown_AreNotNames()
    {
        Assert.False(RecordTypeTable.TryGetNumber("FIRST_USER_MSG", out _));
        Assert.False(RecordTypeTable.TryGetNumber("INTEGRITY_FIRST_MSG", out _));
        Assert.Null(RecordTypeTable.Name(2999));
    }

    [Fact]
    public void TryGetNumber_EveryTypeInCorpus_Resolves()
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
            Assert.True(RecordTypeTable.TryGetNumber(name, out _), $"type={name} from the corpus does not resolve");
        }
    }

    [GeneratedRegex(@"^(?:node=\S+ )?type=([A-Z0-9_]+) ")]
    private static partial Regex TypeName();
}
