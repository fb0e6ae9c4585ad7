using System.Text;
using Sluice.Audit.Accounts;
using Sluice.Audit.Rules;

namespace Sluice.Audit.Tests.Accounts;

public sealed class AccountFileTests
{
    private static (AccountLineKind Kind, string Name, uint Id) Parse(string line, AccountKind kind)
    {
        AccountLineKind k = AccountFile.ParseLine(Encoding.UTF8.GetBytes(line), kind, out ReadOnlySpan<byte> name, out uint id);
        return (k, Encoding.UTF8.GetString(name), id);
    }

    [Theory]
    [InlineData("root:x:0:0:root:/root:/bin/bash", "root", 0u)]
    [InlineData("svc:x:4294967294:4294967294::/:/bin/false", "svc", 4294967294u)]
    [InlineData("crlf:x:12:12::/home/crlf:/bin/sh\r", "crlf", 12u)]
    [InlineData("colon:x:13:13::/home:/opt/odd:shell", "colon", 13u)]
    [InlineData("ünï:x:14:14::/:/bin/sh", "ünï", 14u)]
    public void ParseLine_Passwd_NameAndUid(string line, string name, uint id)
    {
        Assert.Equal((AccountLineKind.Entry, name, id), Parse(line, AccountKind.User));
    }

    [Theory]
    [InlineData("wheel:x:10:alice,bob", "wheel", 10u)]
    [InlineData("empty:x:11:", "empty", 11u)]
    public void ParseLine_Group_NameAndGid(string line, string name, uint id)
    {
        Assert.Equal((AccountLineKind.Entry, name, id), Parse(line, AccountKind.Group));
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("# root:x:0:0:root:/root:/bin/bash")]
    [InlineData("+@netgroup::::::")]
    [InlineData("-baduser::::::")]
    [InlineData("+")]
    public void ParseLine_BlankCommentOrCompat_Ignored(string line)
    {
        Assert.Equal(AccountLineKind.Ignored, Parse(line, AccountKind.User).Kind);
    }

    [Theory]
    [InlineData("short:x:1002", AccountKind.User)]
    [InlineData("six:x:1:1:gecos:/home", AccountKind.User)]
    [InlineData(":x:5:5::/:/bin/sh", AccountKind.User)]
    [InlineData("alpha:x:abc:5::/:/bin/sh", AccountKind.User)]
    [InlineData("signed:x:+5:5::/:/bin/sh", AccountKind.User)]
    [InlineData("negative:x:-5:5::/:/bin/sh", AccountKind.User)]
    [InlineData("noid:x::5::/:/bin/sh", AccountKind.User)]
    [InlineData("trailing:x:5x:5::/:/bin/sh", AccountKind.User)]
    [InlineData("minusone:x:4294967295:5::/:/bin/sh", AccountKind.User)]
    [InlineData("toobig:x:4294967296:5::/:/bin/sh", AccountKind.User)]
    [InlineData("three:x:7", AccountKind.Group)]
    [InlineData("minus:x:-5:", AccountKind.Group)]
    public void ParseLine_Malformed_Reported(string line, AccountKind kind)
    {
        Assert.Equal(AccountLineKind.Malformed, Parse(line, kind).Kind);
    }

    [Fact]
    public void Parse_FixturePasswd_EntriesInOrderAndMalformedCounted()
    {
        byte[] content = File.ReadAllBytes(RepoPaths.Fixture("accounts", "etc", "passwd"));

        var entries = AccountFile.Parse(content, AccountKind.User, out int malformed, out int first);

        Assert.Equal(["root", "daemon", "corpususer", "toor", "nobody"], entries.Select(e => e.Name));
        Assert.Equal([0u, 1u, 1001u, 0u, 65534u], entries.Select(e => e.Id));
        Assert.Equal(2, malformed);
        Assert.Equal(7, first);
    }

    [Fact]
    public void Parse_NoFinalNewline_LastLineRead()
    {
        var entries = AccountFile.Parse("a:x:1:\nb:x:2:"u8, AccountKind.Group, out int malformed, out _);

        Assert.Equal([new AccountEntry("a", 1), new AccountEntry("b", 2)], entries);
        Assert.Equal(0, malformed);
    }

    [Fact]
    public void RulesLookup_SharesTheParser_NameToId()
    {
        string passwd = RepoPaths.Fixture("accounts", "etc", "passwd");
        string group = RepoPaths.Fixture("accounts", "etc", "group");

        Assert.Equal(1001u, AccountNames.Lookup(passwd, AccountKind.User, "corpususer"));
        Assert.Equal(0u, AccountNames.Lookup(passwd, AccountKind.User, "toor"));
        Assert.Null(AccountNames.Lookup(passwd, AccountKind.User, "brokenuser"));
        Assert.Null(AccountNames.Lookup(passwd, AccountKind.User, "# a comment line is not an entry, and not malformed"));
        Assert.Equal(42u, AccountNames.Lookup(group, AccountKind.Group, "shadow"));
        Assert.Null(AccountNames.Lookup(group, AccountKind.Group, "minus"));
    }
}
