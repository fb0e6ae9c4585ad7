using System.Text;
using Sluice.Audit.Records;

namespace Sluice.Audit.Tests.Records;

public sealed class AuditRecordReaderTests
{
    private static List<(string Key, string Value, AuditValueKind Kind, bool InMessage)> Fields(string fields, out AuditParseError error)
    {
        var list = new List<(string, string, AuditValueKind, bool)>();
        var reader = new AuditRecordReader(Encoding.UTF8.GetBytes(fields));
        while (reader.Read())
        {
            list.Add((Encoding.UTF8.GetString(reader.Key), Encoding.UTF8.GetString(reader.Value), reader.ValueKind, reader.InMessage));
        }
        error = reader.Error;
        return list;
    }

    [Fact]
    public void TryCreate_KernelText_ReadsHeader()
    {
        byte[] text = "audit(1795567849.687:1173823): arch=c000003e syscall=44"u8.ToArray();

        Assert.True(AuditRecordReader.TryCreate(text, out AuditRecordHeader h, out AuditRecordReader reader));

        Assert.Equal(1795567849, h.Seconds);
        Assert.Equal(687, h.Milliseconds);
        Assert.Equal(1173823u, h.Serial);
        Assert.Equal("1795567849.687", Encoding.ASCII.GetString(text.AsSpan(AuditRecordHeader.TimestampStart, h.TimestampLength)));
        Assert.Equal(1795567849687, h.UnixMilliseconds);
        Assert.True(reader.Read());
        Assert.Equal("arch", Encoding.ASCII.GetString(reader.Key));
    }

    [Theory]
    [InlineData("audit(1.2:3): ", 3u)]
    [InlineData("audit(1.2:4294967295):", 4294967295u)]
    [InlineData("audit(1795567849.687:0): x=1", 0u)]
    public void TryParse_ValidHeaders_GivesSerial(string text, uint serial)
    {
        Assert.True(AuditRecordHeader.TryParse(Encoding.ASCII.GetBytes(text), out AuditRecordHeader h));
        Assert.Equal(serial, h.Serial);
    }

    [Theory]
    [InlineData("")]
    [InlineData("audit(")]
    [InlineData("audit(1.2:3) x=1")]
    [InlineData("audit(1:3): x=1")]
    [InlineData("audit(1.2): x=1")]
    [InlineData("audit(1.2:4294967296): x=1")]
    [InlineData("audit(1.2000:3): x=1")]
    [InlineData("audit(a.2:3): x=1")]
    [InlineData("type=SYSCALL msg=audit(1.2:3): x=1")]
    public void TryParse_MalformedHeaders_False(string text)
    {
        Assert.False(AuditRecordHeader.TryParse(Encoding.ASCII.GetBytes(text), out _));
    }

    [Fact]
    public void Read_ThreeValueForms_ReportsEachKind()
    {
        var f = Fields("comm=\"bash\" name=2F746D702F6120620A key=(null) exit=-13 tty=(none)", out var error);

        Assert.Equal(AuditParseError.None, error);
        Assert.Equal(
        [
            ("comm", "bash", AuditValueKind.Quoted, false),
            ("name", "2F746D702F6120620A", AuditValueKind.Unquoted, false),
            ("key", "(null)", AuditValueKind.Null, false),
            ("exit", "-13", AuditValueKind.Unquoted, false),
            ("tty", "(none)", AuditValueKind.Unquoted, false),
        ], f);
    }

    [Fact]
    public void Read_UserSpaceMessage_ReadsInsideEnvelope()
    {
        var f = Fields("pid=11085 uid=0 auid=4294967295 ses=4294967295 msg='op=adding group acct=\"corpususer\" exe=\"/usr/sbin/useradd\" hostname=? addr=? terminal=? res=success'", out var error);

        Assert.Equal(AuditParseError.None, error);
        Assert.Equal(("pid", "11085", AuditValueKind.Unquoted, false), f[0]);
        Assert.DoesNotContain(f, x => x.Key == "msg");
        Assert.Contains(("op", "adding group", AuditValueKind.Unquoted, true), f);
        Assert.Contains(("acct", "corpususer", AuditValueKind.Quoted, true), f);
        Assert.Contains(("hostname", "?", AuditValueKind.Unquoted, true), f);
        Assert.Equal(("res", "success", AuditValueKind.Unquoted, true), f[^1]);
    }

    [Fact]
    public void Read_FieldsAfterEnvelope_AreTopLevelAgain()
    {
        var f = Fields("pid=1 msg='a=1 b=\"x y\"' after=2", out _);

        Assert.Equal(("after", "2", AuditValueKind.Unquoted, false), f[^1]);
        Assert.Contains(("b", "x y", AuditValueKind.Quoted, true), f);
    }

    [Fact]
    public void Read_EnrichedSuffix_StopsAtSeparator()
    {
        var f = Fields("arch=c000003e syscall=44\u001dARCH=x86_64 SYSCALL=sendto", out _);

        Assert.Equal(["arch", "syscall"], f.Select(x => x.Key));
    }

    [Fact]
    public void Read_AvcWords_SkippedUntilFields()
    {
        var f = Fields("avc:  denied  { read } for  pid=5 comm=\"cat\" name=\"shadow\" tclass=file permissive=0", out _);

        Assert.Equal(["pid", "comm", "name", "tclass", "permissive"], f.Select(x => x.Key));
    }

    [Fact]
    public void Read_UnterminatedQuote_FalseWithError()
    {
        var f = Fields("a=1 comm=\"bash b=2", out var error);

        Assert.Single(f);
        Assert.Equal(AuditParseError.UnterminatedQuote, error);
    }

    [Fact]
    public void Read_EmptyValueAndTrailingSpaces_Handled()
    {
        var f = Fields("  a= b=\"\"   ", out var error);

        Assert.Equal(AuditParseError.None, error);
        Assert.Equal([("a", "", AuditValueKind.Unquoted, false), ("b", "", AuditValueKind.Quoted, false)], f);
    }

    [Fact]
    public void TryFind_ExistingAndMissing_FindsOnlyExisting()
    {
        var reader = new AuditRecordReader("a=1 b=2 c=3"u8);
        Assert.True(reader.TryFind("b"u8));
        Assert.Equal("2", Encoding.ASCII.GetString(reader.Value));
        Assert.False(reader.TryFind("a"u8));
    }
}
