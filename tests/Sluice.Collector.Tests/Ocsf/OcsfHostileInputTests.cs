using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Google.Protobuf;
using Sluice.Collector.Export;
using Sluice.Collector.Storage;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;
using Record = Sluice.Protocol.V1.Record;

namespace Sluice.Collector.Tests.Ocsf;

/// <summary>
/// What the audited processes control (argv, comm, exe, cwd, paths, a user-space message, the record text)
/// reaches the OCSF object as valid JSON and byte for byte: quotes, control bytes, bytes that are not UTF-8,
/// a forged record line, and megabyte values.
/// </summary>
public sealed class OcsfHostileInputTests
{
    private static readonly OcsfSchemaFacts Facts = OcsfSchemaFacts.Load();

    private static readonly byte[] Invalid = [0xff, 0xfe, (byte)'x', 0xc3, 0x28, 0xed, 0xa0, 0x80, 0xf4, 0x90, 0x80, 0x80];
    private static readonly byte[] Control = [0x00, 0x01, 0x1b, (byte)'[', (byte)'3', (byte)'1', (byte)'m', 0x7f, 0x1d, (byte)'\n', (byte)'\r', (byte)'\t'];

    private static byte[] Cat(params byte[][] parts) => [.. parts.SelectMany(p => p)];

    private static byte[] U(string s) => Encoding.UTF8.GetBytes(s);

    private static string Hex(byte[] b) => Convert.ToHexString(b);

    private static readonly byte[] Quotes = U("a\"b\\c'd\"}],{\"x\":");
    private static readonly byte[] Separators = U("\u2028\u2029</script>");
    private static readonly byte[] Huge = Cat(Enumerable.Repeat((byte)'A', 1 << 20).ToArray(), Invalid);

    private static Event HostileExecve()
    {
        byte[][] argv = [U("/bin/sh"), Quotes, Control, Invalid, Separators, Huge];
        string head = "audit(1795567999.001:990001): ";
        var e = new Event
        {
            Serial = 990001,
            Timestamp = "1795567999.001",
            TimeUnixMs = 1795567999001,
            Node = "node\"\\\n",
            Syscall = "execve",
            Arch = "x86_64",
            Success = true,
            Exit = 0,
            Pid = 4242,
            Ppid = 1,
            Uid = 1000,
            Auid = 1000,
            Ses = 2,
            Tty = "pts\"0",
            Comm = ByteString.CopyFrom(Cat(U("x\"\n"), Invalid)),
            Exe = ByteString.CopyFrom(Cat(U("/tmp/"), Invalid, U("/\"evil\""))),
            Cwd = ByteString.CopyFrom(Cat(U("/tmp/"), Control)),
            Key = ByteString.CopyFrom(Quotes),
            FirstType = "SYSCALL",
            Argc = (uint)argv.Length,
        };
        e.Argv.AddRange(argv.Select(ByteString.CopyFrom));
        e.Proctitle.AddRange(argv.Take(3).Select(ByteString.CopyFrom));
        e.Paths.Add(ByteString.CopyFrom(Invalid));
        e.Records.Add(new Record { Type = 1300, TypeName = "SYSCALL", Raw = ByteString.CopyFrom(U(head + "arch=c000003e syscall=59 success=yes exit=0 comm=" + Hex(e.Comm.ToByteArray()))) });
        // a record whose text holds a newline and a forged second record, and bytes that are not UTF-8
        e.Records.Add(new Record
        {
            Type = 1309,
            TypeName = "EXECVE",
            Raw = ByteString.CopyFrom(Cat(U(head + "argc=6 a0=\"/bin/sh\"\ntype=USER_LOGIN msg=audit(1.2:3): res=success a1="), Invalid, Control, Huge)),
            Enriched = ByteString.CopyFrom(Cat(U("ARCH=x86_64\u001d"), Invalid)),
        });
        return e;
    }

    private static Event HostileOpen()
    {
        byte[] name = Cat(U("/tmp/"), Quotes, Control, Invalid, U("/f"));
        string head = "audit(1795567999.002:990002): ";
        var e = new Event
        {
            Serial = 990002,
            Timestamp = "1795567999.002",
            TimeUnixMs = 1795567999002,
            Syscall = "openat",
            Success = false,
            Exit = -13,
            ExitName = "EACCES",
            Pid = 4243,
            Uid = 1000,
            FirstType = "SYSCALL",
        };
        e.Paths.Add(ByteString.CopyFrom(name));
        e.Records.Add(new Record { Type = 1300, TypeName = "SYSCALL", Raw = ByteString.CopyFrom(U(head + "arch=c000003e syscall=257 success=no exit=-13 pid=4243")) });
        // the kernel writes such a name in hex
        e.Records.Add(new Record { Type = 1302, TypeName = "PATH", Raw = ByteString.CopyFrom(U(head + $"item=0 name={Hex(name)} inode=5 dev=fe:00 mode=0100600 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL")) });
        return e;
    }

    private static Event HostileLogin()
    {
        byte[] acct = Cat(U("root\" admin"), Invalid, Control);
        var e = new Event
        {
            Serial = 990003,
            Timestamp = "1795567999.003",
            TimeUnixMs = 1795567999003,
            Pid = 812,
            Uid = 0,
            Auid = uint.MaxValue,
            Success = false,
            FirstType = "USER_LOGIN",
        };
        // any process with CAP_AUDIT_WRITE writes the msg text: keys that are not words, a newline, a forged record
        e.Records.Add(new Record
        {
            Type = 1112,
            TypeName = "USER_LOGIN",
            Raw = ByteString.CopyFrom(Cat(
                U($"audit(1795567999.003:990003): pid=812 uid=0 auid=4294967295 ses=4294967295 msg='op=login acct={Hex(acct)} "),
                [0xff, (byte)'k', (byte)'=', (byte)'v', (byte)' '],
                U("ke\"y=1 note=\"x\ny\" exe=\"/usr/sbin/sshd\" hostname=? addr=::1 terminal=ssh res=failed'\ntype=USER_LOGIN msg=audit(1795567999.003:990003): res=success"))),
        });
        return e;
    }

    public static TheoryData<string> Encoders => new() { "relaxed", "default" };

    private static JsonElement WriteAndParse(Event e, string encoder)
    {
        var stored = new StoredEvent("agent \"x\"\n", "host\u0001\"", 7, e);
        var buffer = new ArrayBufferWriter<byte>();
        // the stream may write with its own writer options: both encoders must give valid, exact JSON
        var options = new JsonWriterOptions { Encoder = encoder == "relaxed" ? JavaScriptEncoder.UnsafeRelaxedJsonEscaping : JavaScriptEncoder.Default };
        using (var writer = new Utf8JsonWriter(buffer, options))
        {
            OcsfEvent.Write(writer, stored);
        }
        // strict UTF-8 and JSON: the output holds no invalid byte, and parses
        _ = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(buffer.WrittenSpan);
        JsonElement ev = JsonDocument.Parse(buffer.WrittenMemory).RootElement.Clone();
        Assert.Empty(Facts.Check(ev));
        return ev;
    }

    private static byte[] Bytes(JsonElement e) => JsonBytes.Decode(e.GetRawText());

    private static void AssertRawDataExact(JsonElement ev, Event e)
    {
        // raw_data is the records array's JSON text: an ordinary string (no lone surrogate), then exact bytes
        using var records = JsonDocument.Parse(ev.GetProperty("raw_data").GetString()!);
        var list = records.RootElement.EnumerateArray().ToList();
        Assert.Equal(e.Records.Count, list.Count);
        for (int i = 0; i < list.Count; i++)
        {
            Assert.Equal(e.Records[i].TypeName, list[i].GetProperty("type").GetString());
            Assert.Equal(e.Records[i].Raw.ToByteArray(), Bytes(list[i].GetProperty("raw")));
            if (e.Records[i].Enriched.Length > 0)
            {
                Assert.Equal(e.Records[i].Enriched.ToByteArray(), Bytes(list[i].GetProperty("enriched")));
            }
        }
    }

    [Theory]
    [MemberData(nameof(Encoders))]
    public void Write_ExecveWithHostileArguments_ValidJsonAndExactBytes(string encoder)
    {
        Event e = HostileExecve();

        JsonElement ev = WriteAndParse(e, encoder);

        JsonElement process = ev.GetProperty("process");
        Assert.Equal(e.Comm.ToByteArray(), Bytes(process.GetProperty("name")));
        Assert.Equal(e.Exe.ToByteArray(), Bytes(process.GetProperty("file").GetProperty("path")));
        Assert.Equal(U("\"evil\""), Bytes(process.GetProperty("file").GetProperty("name")));
        Assert.Equal(e.Cwd.ToByteArray(), Bytes(process.GetProperty("working_directory")));
        byte[] joined = [.. e.Argv.Select(a => a.ToByteArray()).Aggregate((a, b) => [.. a, (byte)' ', .. b])];
        Assert.Equal(joined, Bytes(process.GetProperty("cmd_line")));
        JsonElement unmapped = ev.GetProperty("unmapped");
        Assert.Equal(e.Argv.Select(a => a.ToByteArray()), unmapped.GetProperty("argv").EnumerateArray().Select(Bytes));
        Assert.Equal(e.Key.ToByteArray(), Bytes(unmapped.GetProperty("key")));
        Assert.Equal(e.Node, unmapped.GetProperty("node").GetString());
        Assert.Equal("pts\"0", ev.GetProperty("actor").GetProperty("session").GetProperty("terminal").GetString());
        Assert.Equal("host\u0001\"", ev.GetProperty("device").GetProperty("hostname").GetString());
        Assert.Equal("agent \"x\"\n:7:1795567999.001:990001", ev.GetProperty("metadata").GetProperty("uid").GetString());
        AssertRawDataExact(ev, e);
    }

    [Theory]
    [MemberData(nameof(Encoders))]
    public void Write_OpenOfAHostileName_FileNameAndPathExact(string encoder)
    {
        Event e = HostileOpen();

        JsonElement ev = WriteAndParse(e, encoder);

        Assert.Equal(1001, ev.GetProperty("class_uid").GetInt32());
        JsonElement file = ev.GetProperty("file");
        Assert.Equal(e.Paths[0].ToByteArray(), Bytes(file.GetProperty("path")));
        Assert.Equal(U("f"), Bytes(file.GetProperty("name")));
        Assert.Equal(e.Paths[0].ToByteArray()[..^2], Bytes(file.GetProperty("parent_folder")));
        Assert.Equal("EACCES", ev.GetProperty("status_detail").GetString());
        AssertRawDataExact(ev, e);
    }

    [Theory]
    [MemberData(nameof(Encoders))]
    public void Write_ForgedLoginMessage_AccountExactOddKeysOnlyInRawData(string encoder)
    {
        Event e = HostileLogin();

        JsonElement ev = WriteAndParse(e, encoder);

        Assert.Equal(3002, ev.GetProperty("class_uid").GetInt32());
        Assert.Equal(Cat(U("root\" admin"), Invalid, Control), Bytes(ev.GetProperty("user").GetProperty("name")));
        Assert.Equal("::1", ev.GetProperty("src_endpoint").GetProperty("ip").GetString());
        Assert.Equal(2, ev.GetProperty("status_id").GetInt32());
        JsonElement msg = ev.GetProperty("unmapped").GetProperty("msg");
        // the keys that are words; "\xffk" and "ke\"y" are not made JSON keys (they stay in raw_data)
        Assert.Equal(["op", "note"], msg.EnumerateObject().Select(p => p.Name));
        Assert.Equal(U("x\ny"), Bytes(msg.GetProperty("note")));
        AssertRawDataExact(ev, e);
    }

    private static readonly string[] Fragments =
    [
        "name=", "nametype=CREATE", "nametype=DELETE", "nametype=PARENT", "mode=0100644", "mode=9", "ouid=", "item=0",
        "msg='", "'", "\"", "acct=", "acct=\"?\"", "id=", "id=4294967295", "op=PAM:chauthtok", "hostname=", "addr=", "addr=::1",
        "terminal=", "res=success", "res=failed", "saddr=", "(null)", "=", " ", "  ", "\u001d", "a0=", "argc=",
        "msg='op=login acct=\"alice\" ", "msg='op=PAM:chauthtok id=1000 ", "msg='acct=", "pid=1 uid=0 auid=1000 ses=2 ",
    ];

    private static readonly string[] Syscalls = ["execve", "openat", "renameat2", "unlinkat", "mkdir", "connect", "accept4", "sendto", "bind", "setuid", "kill", "chmod", ""];
    private static readonly (uint Type, string Name)[] Types =
    [
        (1300, "SYSCALL"), (1302, "PATH"), (1306, "SOCKADDR"), (1309, "EXECVE"), (1112, "USER_LOGIN"), (1100, "USER_AUTH"),
        (1114, "ADD_USER"), (1108, "USER_CHAUTHTOK"), (1135, "ACCT_LOCK"), (1106, "USER_END"),
    ];

    private static byte[] RandomBytes(Random random, int max)
    {
        var bytes = new byte[random.Next(max)];
        random.NextBytes(bytes);
        return bytes;
    }

    private static byte[] RandomText(Random random)
    {
        var text = new List<byte>();
        int parts = random.Next(12);
        for (int i = 0; i < parts; i++)
        {
            text.AddRange(random.Next(3) == 0 ? RandomBytes(random, 12) : U(Fragments[random.Next(Fragments.Length)]));
            if (random.Next(2) == 0)
            {
                text.AddRange(U(Hex(RandomBytes(random, 8))));
            }
        }
        return [.. text];
    }

    [Fact]
    public void Write_RandomEvents_NeverThrowsAlwaysValidAndConforming()
    {
        var random = new Random(18);
        var failures = new List<string>();
        var classes = new HashSet<int>();
        for (int n = 0; n < 3000; n++)
        {
            var e = new Event { Serial = (ulong)n, Timestamp = "1795567999.500", TimeUnixMs = 1795567999500, Syscall = Syscalls[random.Next(Syscalls.Length)] };
            if (random.Next(4) > 0) { e.Pid = (uint)random.Next(); }
            if (random.Next(2) == 0) { e.Auid = random.Next(2) == 0 ? uint.MaxValue : 1000; }
            if (random.Next(2) == 0) { e.Success = random.Next(2) == 0; e.Exit = -random.Next(200); }
            if (random.Next(2) == 0) { e.Ses = (uint)random.Next(); }
            e.Comm = ByteString.CopyFrom(RandomBytes(random, 20));
            e.Exe = ByteString.CopyFrom(RandomBytes(random, 20));
            e.Cwd = ByteString.CopyFrom(RandomBytes(random, 20));
            for (int i = random.Next(4); i > 0; i--)
            {
                e.Argv.Add(ByteString.CopyFrom(RandomBytes(random, 30)));
            }
            if (random.Next(3) == 0)
            {
                e.Sockaddr = new SocketAddress
                {
                    Family = new[] { "inet", "inet6", "unix", "netlink", "family 9" }[random.Next(5)],
                    Address = random.Next(2) == 0 ? "10.1.2.3" : "",
                    Path = ByteString.CopyFrom(RandomBytes(random, 16)),
                    Raw = ByteString.CopyFrom(RandomBytes(random, 16)),
                };
                if (random.Next(2) == 0) { e.Sockaddr.Port = (uint)random.Next(65536); }
            }
            for (int i = random.Next(1, 5); i > 0; i--)
            {
                var (type, name) = Types[random.Next(Types.Length)];
                e.Records.Add(new Record { Type = type, TypeName = name, Raw = ByteString.CopyFrom([.. U($"audit(1795567999.500:{n}): "), .. RandomText(random)]) });
            }
            e.FirstType = e.Syscall.Length > 0 ? "SYSCALL" : e.Records[0].TypeName;

            try
            {
                JsonElement ev = WriteAndParse(e, random.Next(2) == 0 ? "relaxed" : "default");
                Assert.Equal(OcsfCorpus.ClassUid(OcsfEvent.Classify(e)), ev.GetProperty("class_uid").GetInt32());
                classes.Add(ev.GetProperty("class_uid").GetInt32());
            }
            catch (Exception error)
            {
                failures.Add($"event {n}: {error.GetType().Name}: {error.Message}");
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(5)));
        // the random events reached every class, not only the Base Event
        Assert.Equal([0, 1001, 1007, 3001, 3002, 4001], classes.Order());
    }
}
