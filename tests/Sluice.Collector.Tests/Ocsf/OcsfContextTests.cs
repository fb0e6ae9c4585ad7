using System.Buffers;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Sluice.Collector.Export;
using Sluice.Collector.Storage;
using Sluice.Collector.Tests.Storage;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Tests.Ocsf;

/// <summary>
/// The process context in OCSF 1.8.0: <c>parent_process</c> from the agent's parent (pid, file, cmd_line, user,
/// created_time, working_directory), <c>lineage</c>, and <c>container</c> (the container profile), each checked
/// against the schema's facts (ocsf-required.json); the whole context in <c>unmapped.context</c>.
/// </summary>
public sealed class OcsfContextTests
{
    private static readonly OcsfSchemaFacts Facts = OcsfSchemaFacts.Load();

    private static JsonElement Write(Event e)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, ReplayPayload.WriterOptions))
        {
            OcsfEvent.Write(writer, new StoredEvent("web-1", "web-1.example", 3, e));
        }
        _ = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(buffer.WrittenSpan);
        return JsonDocument.Parse(buffer.WrittenMemory).RootElement.Clone();
    }

    private static Event Execve(ProcessContext? context) => TestEvents.Exec(77, TestEvents.BaseUnixMs, 1).With(context);

    private static string[] Profiles(JsonElement ev) => [.. ev.GetProperty("metadata").GetProperty("profiles").EnumerateArray().Select(p => p.GetString()!)];

    [Fact]
    public void Write_ExecveWithKnownContext_ParentProcessLineageAndContainer_ConformToTheFacts()
    {
        var ev = Write(Execve(Contexts.Ssh()));

        Assert.Empty(Facts.Check(ev));
        Assert.Equal(1007, ev.GetProperty("class_uid").GetInt32());
        Assert.Equal(["host", "container"], Profiles(ev));
        var process = ev.GetProperty("process");
        var parent = process.GetProperty("parent_process");
        Assert.Equal(2100, parent.GetProperty("pid").GetInt32());
        Assert.Equal("/usr/bin/bash", parent.GetProperty("file").GetProperty("path").GetString());
        Assert.Equal("bash", parent.GetProperty("file").GetProperty("name").GetString());
        Assert.Equal("-bash", parent.GetProperty("cmd_line").GetString());
        Assert.Equal("0", parent.GetProperty("user").GetProperty("uid").GetString());
        Assert.Equal(TestEvents.BaseUnixMs - 60_000, parent.GetProperty("created_time").GetInt64());
        Assert.Equal("/root", parent.GetProperty("working_directory").GetString());
        Assert.Equal(["/usr/lib/systemd/systemd", "/usr/sbin/sshd", "/usr/bin/bash", "/usr/bin/sudo"],
            process.GetProperty("lineage").EnumerateArray().Select(l => l.GetString()));
        var container = process.GetProperty("container");
        Assert.Equal(Contexts.DockerId, container.GetProperty("uid").GetString());
        Assert.Equal("docker", container.GetProperty("runtime").GetString());
        // the whole context, unknowns and all, as the replay format writes it
        Assert.Equal(Contexts.ReplayJson(Execve(Contexts.Ssh())).GetProperty("context").GetRawText(),
            ev.GetProperty("unmapped").GetProperty("context").GetRawText());
    }

    [Fact]
    public void Write_UnknownOrNoContext_PpidOnly_NoContainerNoLineageNoProfile()
    {
        foreach (var context in new[] { Contexts.Unknown(), null })
        {
            var ev = Write(Execve(context));

            Assert.Empty(Facts.Check(ev));
            Assert.Equal(["host"], Profiles(ev));
            var process = ev.GetProperty("process");
            Assert.Equal("{\"pid\":1200}", process.GetProperty("parent_process").GetRawText());
            Assert.False(process.TryGetProperty("container", out _));
            Assert.False(process.TryGetProperty("lineage", out _));
            Assert.Equal(context is not null, ev.GetProperty("unmapped").TryGetProperty("context", out _));
        }
    }

    [Fact]
    public void Write_ChainStoppingAtAnUnknownPid_LineageHoldsTheKnownLevelsOnly_HostHasNoContainer()
    {
        var ev = Write(Execve(Contexts.CronPartial()));

        Assert.Empty(Facts.Check(ev));
        var process = ev.GetProperty("process");
        Assert.Equal(["/usr/sbin/cron", "/bin/sh", "/usr/bin/sudo"], process.GetProperty("lineage").EnumerateArray().Select(l => l.GetString()));
        Assert.False(process.TryGetProperty("container", out _));
        Assert.Equal(3300, process.GetProperty("parent_process").GetProperty("pid").GetInt32());
        Assert.True(ev.GetProperty("unmapped").GetProperty("context").GetProperty("ancestry")[2].GetProperty("unknown").GetBoolean());
    }

    [Fact]
    public void Write_OtherClassInAContainer_ActorProcessCarriesIt()
    {
        var e = TestEvents.Login(900, TestEvents.BaseUnixMs);
        e.Pid = 5000;
        e.Context = Contexts.Ssh(runtime: "podman");
        e.Context.Container.PodUid = "5b7f9d2e-0c41-4e8a-9a55-2f3c6f0f6a11";

        var ev = Write(e);

        Assert.Empty(Facts.Check(ev));
        var container = ev.GetProperty("actor").GetProperty("process").GetProperty("container");
        Assert.Equal("podman", container.GetProperty("runtime").GetString());
        Assert.Equal("5b7f9d2e-0c41-4e8a-9a55-2f3c6f0f6a11", container.GetProperty("pod_uuid").GetString());
    }

    [Fact]
    public void Write_ForgedContext_ValidJsonExactBytesAndConforming()
    {
        byte[] invalid = [(byte)'/', 0xff, 0xc3, 0x28, 0x00, (byte)'\n', (byte)'"', (byte)'\\', 0x1b];
        byte[] huge = [.. Enumerable.Repeat((byte)'A', 1 << 20), .. invalid];
        var forged = Contexts.Ssh(containerId: "id\"\n\0<x>", runtime: "\u2028", unit: "u\nv");
        forged.Parent.Exe = ByteString.CopyFrom(huge);
        forged.Parent.Argv.Clear();
        forged.Parent.Argv.Add(ByteString.CopyFrom(invalid));
        forged.Ancestry[1].Exe = ByteString.CopyFrom(invalid);

        var ev = Write(Execve(forged));

        Assert.Empty(Facts.Check(ev));
        var parent = ev.GetProperty("process").GetProperty("parent_process");
        Assert.Equal(huge, JsonBytes.Decode(parent.GetProperty("file").GetProperty("path").GetRawText()));
        Assert.Equal(invalid, JsonBytes.Decode(parent.GetProperty("cmd_line").GetRawText()));
        Assert.Equal("id\"\n\0<x>", ev.GetProperty("process").GetProperty("container").GetProperty("uid").GetString());
    }

    [Fact]
    public void Facts_ContainerWithoutTheProfileDeclared_Refused()
    {
        var ev = Write(Execve(Contexts.Ssh()));
        string text = ev.GetRawText().Replace("\"profiles\":[\"host\",\"container\"]", "\"profiles\":[\"host\"]", StringComparison.Ordinal);

        var errors = Facts.Check(JsonDocument.Parse(text).RootElement);

        Assert.Contains("process.container: not an attribute of this class or object in OCSF 1.8.0", errors);
    }
}
