using System.Buffers;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Sluice.Protocol.Json;
using Sluice.Protocol.V1;
using Record = Sluice.Protocol.V1.Record;

namespace Sluice.Protocol.Tests.Json;

public sealed class EventJsonWriterTests
{
    private static string Line(Event e, Func<uint, string>? names = null)
    {
        var buffer = new ArrayBufferWriter<byte>();
        EventJsonWriter.Write(buffer, e, names);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    [Fact]
    public void Write_FullEvent_OneLineWithTheReplayKeys()
    {
        var e = new Event
        {
            Serial = 7,
            Timestamp = "1700000000.001",
            TimeUnixMs = 1700000000001,
            Node = "web-1",
            Syscall = "openat",
            Success = false,
            Exit = -13,
            ExitName = "EACCES",
            Pid = 10,
            Ppid = 1,
            Uid = 1000,
            Auid = 4294967295,
            Comm = ByteString.CopyFromUtf8("cat"),
            Exe = ByteString.CopyFromUtf8("/usr/bin/cat"),
            Key = ByteString.CopyFromUtf8("access"),
            Cwd = ByteString.CopyFromUtf8("/root"),
            Completion = "last_record",
        };
        e.Records.Add(new Record { Type = 1300, TypeName = "SYSCALL", Raw = ByteString.CopyFromUtf8("audit(1700000000.001:7): syscall=257") });
        e.Argv.Add(ByteString.CopyFromUtf8("cat"));
        e.Paths.Add(ByteString.CopyFromUtf8("/etc/shadow"));
        e.Proctitle.Add(ByteString.CopyFromUtf8("cat"));

        string line = Line(e);

        Assert.EndsWith("}\n", line);
        Assert.Single(line.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        var root = JsonDocument.Parse(line).RootElement;
        Assert.Equal(7UL, root.GetProperty("serial").GetUInt64());
        Assert.Equal("1700000000.001", root.GetProperty("timestamp").GetString());
        Assert.Equal("web-1", root.GetProperty("node").GetString());
        Assert.Equal("SYSCALL", root.GetProperty("records")[0].GetProperty("type").GetString());
        Assert.Equal("audit(1700000000.001:7): syscall=257", root.GetProperty("records")[0].GetProperty("raw").GetString());
        Assert.Equal("openat", root.GetProperty("syscall").GetString());
        Assert.False(root.GetProperty("success").GetBoolean());
        Assert.Equal(-13, root.GetProperty("exit").GetInt64());
        Assert.Equal(4294967295u, root.GetProperty("auid").GetUInt32());
        Assert.Equal("/usr/bin/cat", root.GetProperty("exe").GetString());
        Assert.Equal("access", root.GetProperty("key").GetString());
        Assert.Equal(["cat"], root.GetProperty("argv").EnumerateArray().Select(a => a.GetString()));
        Assert.Equal(["/etc/shadow"], root.GetProperty("paths").EnumerateArray().Select(a => a.GetString()));
        Assert.False(root.TryGetProperty("euid", out _)); // absent stays absent
    }

    [Fact]
    public void Write_Names_KeysNextToTheIdsAndNullForUnknownPathOwners()
    {
        var e = new Event { Serial = 8, Timestamp = "1700000000.002", Uid = 0, UidName = "root", Auid = 4294967295, Egid = 42, EgidName = "shadow", FsgidName = "shadow" };
        e.Paths.Add(ByteString.CopyFromUtf8("/etc/"));
        e.Paths.Add(ByteString.CopyFromUtf8("/tmp/x"));
        e.PathOwnerNames = new PathOwnerNames { OuidNames = { "root", "" }, OgidNames = { "root", "shadow" } };

        var root = JsonDocument.Parse(Line(e)).RootElement;

        Assert.Equal("root", root.GetProperty("uid_name").GetString());
        Assert.Equal("shadow", root.GetProperty("egid_name").GetString());
        Assert.Equal("shadow", root.GetProperty("fsgid_name").GetString());
        Assert.False(root.TryGetProperty("auid_name", out _));
        Assert.False(root.TryGetProperty("euid_name", out _));
        Assert.Equal(["root", null], root.GetProperty("path_ouid_names").EnumerateArray().Select(a => a.GetString()));
        Assert.Equal(["root", "shadow"], root.GetProperty("path_ogid_names").EnumerateArray().Select(a => a.GetString()));
        var keys = root.EnumerateObject().Select(p => p.Name).ToList();
        Assert.Equal(keys.IndexOf("uid") + 1, keys.IndexOf("uid_name"));
    }

    [Fact]
    public void Write_NoNames_NoNameKeys()
    {
        var e = new Event { Serial = 9, Timestamp = "1700000000.003", Uid = 0, Gid = 0 };
        e.Paths.Add(ByteString.CopyFromUtf8("/etc/"));

        var root = JsonDocument.Parse(Line(e)).RootElement;

        Assert.DoesNotContain(root.EnumerateObject(), p => p.Name.EndsWith("_name", StringComparison.Ordinal) || p.Name.EndsWith("_names", StringComparison.Ordinal));
    }

    [Fact]
    public void Write_NoTypeName_UsesCallbackOrUnknown()
    {
        var e = new Event { Serial = 1, Timestamp = "1.000" };
        e.Records.Add(new Record { Type = 1999, Raw = ByteString.CopyFromUtf8("audit(1.000:1): x=1") });

        Assert.Contains("\"type\":\"UNKNOWN[1999]\"", Line(e));
        Assert.Contains("\"type\":\"MINE\"", Line(e, _ => "MINE"));
    }

    [Theory]
    [InlineData(new byte[] { 0x61, 0x62 }, "\"ab\"")]
    [InlineData(new byte[] { 0xc3, 0xbc }, "\"ü\"")]
    [InlineData(new byte[] { 0xff }, "\"\\udcff\"")]
    [InlineData(new byte[] { 0xe2, 0x82, 0x41 }, "\"\\udce2\\udc82A\"")]          // truncated sequence
    [InlineData(new byte[] { 0xed, 0xa0, 0x80 }, "\"\\udced\\udca0\\udc80\"")]     // encoded surrogate: not UTF-8
    [InlineData(new byte[] { 0xc0, 0xaf }, "\"\\udcc0\\udcaf\"")]                 // overlong
    [InlineData(new byte[] { 0x22, 0x5c, 0x0a, 0x00, 0x1f, 0x7f }, "\"\\\"\\\\\\n\\u0000\\u001f\u007f\"")]
    [InlineData(new byte[] { 0xf0, 0x9f, 0x98, 0x80 }, "\"😀\"")]
    public void WriteLiteral_Bytes_ExpectedText(byte[] bytes, string expected)
    {
        var buffer = new ArrayBufferWriter<byte>();
        ByteStringJson.WriteLiteral(bytes, buffer);

        Assert.Equal(expected, Encoding.UTF8.GetString(buffer.WrittenSpan));
    }

    [Fact]
    public void WriteLiteralThenTryDecode_RandomBytes_RoundTrip()
    {
        var rng = new Random(5);
        for (int i = 0; i < 5000; i++)
        {
            byte[] bytes = new byte[rng.Next(0, 64)];
            rng.NextBytes(bytes);
            if (i % 3 == 0)
            {
                // mostly valid UTF-8 with a few stray bytes
                bytes = [.. Encoding.UTF8.GetBytes("päth/日本/"), .. bytes.Take(2)];
            }
            var buffer = new ArrayBufferWriter<byte>();
            ByteStringJson.WriteLiteral(bytes, buffer);
            byte[] literal = buffer.WrittenSpan.ToArray();

            // valid JSON, and what System.Text.Json sees as the string's escaped content decodes back
            var reader = new Utf8JsonReader(literal);
            Assert.True(reader.Read());
            Assert.Equal(JsonTokenType.String, reader.TokenType);
            Assert.True(ByteStringJson.TryDecode(reader.ValueSpan, out byte[] back));
            Assert.Equal(bytes, back);
        }
    }

    [Theory]
    [InlineData("\\udc7f")]   // a lone surrogate outside the escaped-byte range
    [InlineData("\\ud800")]
    [InlineData("\\u12")]
    [InlineData("\\q")]
    [InlineData("abc\\")]
    public void TryDecode_NotOurEncoding_False(string escaped)
    {
        Assert.False(ByteStringJson.TryDecode(Encoding.UTF8.GetBytes(escaped), out _));
    }
}
