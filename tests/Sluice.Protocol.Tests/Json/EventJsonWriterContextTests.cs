using System.Buffers;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Sluice.Protocol.Json;
using Sluice.Protocol.V1;
using Record = Sluice.Protocol.V1.Record;

namespace Sluice.Protocol.Tests.Json;

/// <summary>
/// The <c>context</c> key of the replay format: states (known, unknown, unset), the parent, ancestry with an unknown
/// level and truncation, an inherited container, a unit, and bytes that are not UTF-8, each written exactly.
/// </summary>
public sealed class EventJsonWriterContextTests
{
    private static ByteString B(string s) => ByteString.CopyFromUtf8(s);

    private static Event Exec(ProcessContext? context)
    {
        var e = new Event { Serial = 9, Timestamp = "1700000000.001", TimeUnixMs = 1700000000001, Pid = 40, Context = context };
        e.Records.Add(new Record { Type = 1300, TypeName = "SYSCALL", Raw = B("audit(1700000000.001:9): syscall=59") });
        return e;
    }

    /// <summary>The <c>context</c> object's JSON text, after checking that the line is one valid JSON object.</summary>
    private static string Context(Event e)
    {
        var buffer = new ArrayBufferWriter<byte>();
        EventJsonWriter.Write(buffer, e);
        string line = Encoding.UTF8.GetString(buffer.WrittenSpan);
        Assert.EndsWith("}\n", line);
        Assert.Single(line.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        using var doc = JsonDocument.Parse(line);
        return doc.RootElement.TryGetProperty("context", out var c) ? c.GetRawText() : "(none)";
    }

    [Fact]
    public void Write_KnownParentAncestryContainerUnit_EveryFieldInItsPlace()
    {
        var c = new ProcessContext
        {
            ParentState = ContextState.Known,
            Parent = new ProcessRef
            {
                Pid = 30, Exe = B("/usr/bin/bash"), Argv = { B("bash"), B("-c"), B("x y") }, ArgvTruncated = true, ExecSerial = 8,
                StartUnixMs = 1699999999000, Source = ProcessSource.Exec, Cwd = B("/root"), Uid = 0, Auid = 1000, Exited = true,
            },
            Ancestry =
            {
                new Ancestor { Pid = 30, Exe = B("/usr/bin/bash"), ExecSerial = 8 },
                new Ancestor { Pid = 20, Exe = B("/usr/sbin/sshd") },
            },
            AncestryTruncated = true,
            ContainerState = ContextState.Known,
            Container = new Container { Id = new string('a', 64), Runtime = "containerd", Inherited = true, PodUid = "p-1" },
            UnitState = ContextState.Known,
            Unit = "ssh.service",
            Cgroup = B("/kubepods/x"),
            CgroupInherited = true,
            ExecSerial = 9,
        };

        Assert.Equal(
            "{\"parent_state\":\"known\",\"parent\":{\"pid\":30,\"exe\":\"/usr/bin/bash\",\"argv\":[\"bash\",\"-c\",\"x y\"],\"argv_truncated\":true,"
            + "\"exec_serial\":8,\"start_unix_ms\":1699999999000,\"source\":\"exec\",\"cwd\":\"/root\",\"uid\":0,\"auid\":1000,\"exited\":true},"
            + "\"ancestry\":[{\"pid\":30,\"exe\":\"/usr/bin/bash\",\"exec_serial\":8},{\"pid\":20,\"exe\":\"/usr/sbin/sshd\"}],\"ancestry_truncated\":true,"
            + $"\"container_state\":\"known\",\"container\":{{\"id\":\"{new string('a', 64)}\",\"runtime\":\"containerd\",\"pod_uid\":\"p-1\",\"inherited\":true}},"
            + "\"unit_state\":\"known\",\"unit\":\"ssh.service\",\"cgroup\":\"/kubepods/x\",\"cgroup_inherited\":true,\"exec_serial\":9}",
            Context(Exec(c)));
    }

    [Fact]
    public void Write_UnknownStates_SaySoAndLeaveTheFieldsOut_EvenWhenAForgerSetThem()
    {
        var c = new ProcessContext
        {
            ParentState = ContextState.Unknown,
            Parent = new ProcessRef { Pid = 1, Exe = B("/forged") },
            ContainerState = ContextState.Unknown,
            Container = new Container { Id = "forged", Runtime = "docker" },
            UnitState = ContextState.Unknown,
            Unit = "forged.service",
        };

        Assert.Equal("{\"parent_state\":\"unknown\",\"container_state\":\"unknown\",\"unit_state\":\"unknown\"}", Context(Exec(c)));
    }

    [Fact]
    public void Write_UnknownAncestor_PidAndUnknownOnly_KnownNoneIsAStateWithoutAField()
    {
        var c = new ProcessContext
        {
            ParentState = ContextState.Known,
            Parent = new ProcessRef { Pid = 30, Source = ProcessSource.ProcScan },
            Ancestry = { new Ancestor { Pid = 30 }, new Ancestor { Pid = 29, Exe = B("/ignored"), Unknown = true } },
            ContainerState = ContextState.Known,
            UnitState = ContextState.Known,
        };

        Assert.Equal(
            "{\"parent_state\":\"known\",\"parent\":{\"pid\":30,\"source\":\"proc\"},\"ancestry\":[{\"pid\":30},{\"pid\":29,\"unknown\":true}],"
            + "\"container_state\":\"known\",\"unit_state\":\"known\"}",
            Context(Exec(c)));
    }

    [Fact]
    public void Write_UnsetContextOrStates_NoKeyOrAnEmptyObject()
    {
        Assert.Equal("(none)", Context(Exec(null)));
        Assert.Equal("{}", Context(Exec(new ProcessContext())));
    }

    [Fact]
    public void Write_BytesNotUtf8AndControlsInContext_EscapedExactly()
    {
        byte[] hostile = [(byte)'/', 0xff, (byte)'a', 0xc3, (byte)'\n', (byte)'"', 0x00, 0x1b, (byte)'<'];
        var c = new ProcessContext
        {
            ParentState = ContextState.Known,
            Parent = new ProcessRef { Pid = 2, Exe = ByteString.CopyFrom(hostile), Argv = { ByteString.CopyFrom(hostile) }, Cwd = ByteString.CopyFrom(hostile) },
            Ancestry = { new Ancestor { Pid = 2, Exe = ByteString.CopyFrom(hostile) } },
            UnitState = ContextState.Known,
            Unit = "u\n\"v\"\u2028",
            Cgroup = ByteString.CopyFrom(hostile),
        };

        string json = Context(Exec(c));

        const string Escaped = "\"/\\udcffa\\udcc3\\n\\\"\\u0000\\u001b<\"";
        Assert.Equal(
            $"{{\"parent_state\":\"known\",\"parent\":{{\"pid\":2,\"exe\":{Escaped},\"argv\":[{Escaped}],\"source\":\"unspecified\",\"cwd\":{Escaped}}},"
            + $"\"ancestry\":[{{\"pid\":2,\"exe\":{Escaped}}}],\"unit_state\":\"known\",\"unit\":\"u\\n\\\"v\\\"\\u2028\",\"cgroup\":{Escaped}}}",
            json);
    }
}
