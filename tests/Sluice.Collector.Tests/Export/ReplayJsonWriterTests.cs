using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Sluice.Collector.Export;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;
using Record = Sluice.Protocol.V1.Record;

namespace Sluice.Collector.Tests.Export;

public sealed class ReplayJsonWriterTests
{
    private static string Write(Event e)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, ReplayJsonWriter.Options))
        {
            ReplayJsonWriter.Write(w, e);
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    [Theory]
    [InlineData(new byte[] { 0x66, 0xff, 0x6f }, "\"f\\udcffo\"")]
    [InlineData(new byte[] { 0xc3, 0xa9 }, "\"é\"")]
    [InlineData(new byte[] { 0xc3, 0x28 }, "\"\\udcc3(\"")]
    [InlineData(new byte[] { 0xe2, 0x82 }, "\"\\udce2\\udc82\"")]
    [InlineData(new byte[] { 0x22, 0x5c, 0x0a, 0x01, 0x7f }, "\"\\\"\\\\\\n\\u0001\\u007f\"")]
    [InlineData(new byte[] { 0xf0, 0x9f, 0x98, 0x80 }, "\"😀\"")]
    [InlineData(new byte[] { 0xed, 0xa0, 0x80 }, "\"\\udced\\udca0\\udc80\"")]
    public void Escape_Bytes_ValidUtf8KeptInvalidBytesAsLoneSurrogates(byte[] input, string expected)
    {
        var dst = new byte[input.Length * 6 + 2];

        int n = ReplayJsonWriter.Escape(input, dst);

        Assert.Equal(expected, Encoding.UTF8.GetString(dst, 0, n));
        Assert.Equal(input, JsonBytes.Decode(expected));
    }

    [Fact]
    public void Write_RandomBytes_RoundTripThroughTheJson()
    {
        var random = new Random(12345);
        for (int round = 0; round < 500; round++)
        {
            var raw = new byte[random.Next(0, 64)];
            random.NextBytes(raw);
            var e = new Event { Serial = 1, Timestamp = "1.000", TimeUnixMs = 1000 };
            e.Records.Add(new Record { Type = 1309, Raw = ByteString.CopyFrom(raw) });
            e.Argv.Add(ByteString.CopyFrom(raw));

            using var doc = JsonDocument.Parse(Write(e));

            Assert.Equal(raw, JsonBytes.Decode(doc.RootElement.GetProperty("records")[0].GetProperty("raw").GetRawText()));
            Assert.Equal(raw, JsonBytes.Decode(doc.RootElement.GetProperty("argv")[0].GetRawText()));
        }
    }

    [Fact]
    public void Write_ExecEvent_HasTheReplayKeys()
    {
        var e = TestEvents.Exec(42, TestEvents.BaseUnixMs + 5, 1);
        e.Node = "web-1";

        using var doc = JsonDocument.Parse(Write(e));
        var root = doc.RootElement;

        Assert.Equal(42ul, root.GetProperty("serial").GetUInt64());
        Assert.Equal("1764028800.005", root.GetProperty("timestamp").GetString());
        Assert.Equal("web-1", root.GetProperty("node").GetString());
        Assert.Equal(["SYSCALL", "EXECVE", "CWD", "PATH", "PROCTITLE", "EOE"], root.GetProperty("records").EnumerateArray().Select(r => r.GetProperty("type").GetString()));
        Assert.Equal("execve", root.GetProperty("syscall").GetString());
        Assert.True(root.GetProperty("success").GetBoolean());
        Assert.Equal(0, root.GetProperty("exit").GetInt64());
        Assert.Equal((4001u, 1200u, 0u, 1001u), (root.GetProperty("pid").GetUInt32(), root.GetProperty("ppid").GetUInt32(), root.GetProperty("uid").GetUInt32(), root.GetProperty("auid").GetUInt32()));
        Assert.Equal("/usr/bin/sudo", root.GetProperty("exe").GetString());
        Assert.Equal("sudo", root.GetProperty("comm").GetString());
        Assert.Equal("exec", root.GetProperty("key").GetString());
        Assert.Equal("/root", root.GetProperty("cwd").GetString());
        Assert.Equal(["sudo", "-l", "/tmp/file 1"], root.GetProperty("argv").EnumerateArray().Select(a => a.GetString()));
        Assert.Equal(["/usr/bin/sudo"], root.GetProperty("paths").EnumerateArray().Select(a => a.GetString()));
    }

    [Fact]
    public void Write_UnknownRecordType_NamedAsAusearchDoes()
    {
        var e = new Event { Serial = 1, Timestamp = "1.000", TimeUnixMs = 1000 };
        e.Records.Add(new Record { Type = 1999, Raw = ByteString.CopyFromUtf8("audit(1.000:1): x=1") });

        using var doc = JsonDocument.Parse(Write(e));

        Assert.Equal("UNKNOWN[1999]", doc.RootElement.GetProperty("records")[0].GetProperty("type").GetString());
    }
}
