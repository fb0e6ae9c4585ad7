using System.Buffers;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using Google.Protobuf;
using Sluice.Protocol.V1;

namespace Sluice.Protocol.Json;

/// <summary>
/// Writes an <see cref="Event"/> as one JSON object: the JSON Lines format of <c>sluice-agent replay</c> and
/// <c>sluice-collector export</c>.
/// </summary>
/// <remarks>
/// Keys: <c>serial</c> (number), <c>timestamp</c> (<c>SEC.MSEC</c> as in the record), <c>node</c> (if any),
/// <c>records</c> (list of <c>{type, raw}</c>, plus <c>enriched</c> when auditd added it), then the summary
/// keys that apply: <c>syscall</c>, <c>success</c>, <c>exit</c>, <c>pid</c>, <c>ppid</c>, <c>uid</c>,
/// <c>auid</c>, <c>comm</c>, <c>exe</c>, <c>key</c>, <c>cwd</c>, <c>argv</c>, <c>paths</c>, <c>proctitle</c>,
/// and more (<c>time_unix_ms</c>, <c>first_type</c>, <c>arch</c>, <c>exit_name</c>, <c>euid</c>, <c>gid</c>,
/// <c>egid</c>, <c>ses</c>, <c>tty</c>, <c>argc</c>, <c>argv_incomplete</c>, <c>sockaddr</c>, <c>completion</c>).
/// When the event's ids were named: <c>uid_name</c>, <c>auid_name</c>, <c>euid_name</c>, <c>suid_name</c>,
/// <c>fsuid_name</c>, <c>gid_name</c>, <c>egid_name</c>, <c>sgid_name</c>, <c>fsgid_name</c>, and
/// <c>path_ouid_names</c> / <c>path_ogid_names</c> (lists parallel to <c>paths</c>, null where unknown).
/// When the agent enriched the event: <c>context</c> (process ancestry, container and unit; see <c>WriteContext</c>).
/// Byte fields (raw text, argv, paths, ...) are written with <see cref="ByteStringJson"/>: valid UTF-8 as is,
/// every other byte as <c>\udc80</c>..<c>\udcff</c>.
/// </remarks>
public static class EventJsonWriter
{
    private static readonly JsonWriterOptions LineOptions = new()
    {
        // non-ASCII text stays readable; JSON's own escapes still apply
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = false,
        SkipValidation = false,
    };

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_scratch;

    /// <summary>Writes <paramref name="e"/> as one JSON line (the object and <c>\n</c>) to <paramref name="output"/>.</summary>
    public static void Write(IBufferWriter<byte> output, Event e, Func<uint, string>? recordTypeName = null)
    {
        using (var writer = new Utf8JsonWriter(output, LineOptions))
        {
            Write(writer, e, recordTypeName);
        }
        output.Write("\n"u8);
    }

    /// <summary>Writes <paramref name="e"/> as one JSON line to <paramref name="output"/>.</summary>
    public static void Write(Stream output, Event e, Func<uint, string>? recordTypeName = null)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        Write(buffer, e, recordTypeName);
        output.Write(buffer.WrittenSpan);
    }

    /// <summary>Writes <paramref name="e"/> as one JSON object with <paramref name="writer"/> (no newline).</summary>
    /// <param name="recordTypeName">Names record types whose <see cref="Record.TypeName"/> is empty; <c>UNKNOWN[n]</c> if null.</param>
    public static void Write(Utf8JsonWriter writer, Event e, Func<uint, string>? recordTypeName = null)
    {
        writer.WriteStartObject();
        writer.WriteNumber("serial"u8, e.Serial);
        writer.WriteString("timestamp"u8, e.Timestamp);
        writer.WriteNumber("time_unix_ms"u8, e.TimeUnixMs);
        if (e.Node.Length > 0)
        {
            writer.WriteString("node"u8, e.Node);
        }
        if (e.FirstType.Length > 0)
        {
            writer.WriteString("first_type"u8, e.FirstType);
        }
        writer.WriteStartArray("records"u8);
        foreach (Record r in e.Records)
        {
            writer.WriteStartObject();
            writer.WriteString("type"u8, r.TypeName.Length > 0 ? r.TypeName : recordTypeName?.Invoke(r.Type) ?? $"UNKNOWN[{r.Type.ToString(CultureInfo.InvariantCulture)}]");
            WriteBytes(writer, "raw"u8, r.Raw);
            if (r.Enriched.Length > 0)
            {
                WriteBytes(writer, "enriched"u8, r.Enriched);
            }
            writer.WriteEndObject();
        }
        writer.WriteEndArray();

        if (e.Syscall.Length > 0)
        {
            writer.WriteString("syscall"u8, e.Syscall);
        }
        if (e.Arch.Length > 0)
        {
            writer.WriteString("arch"u8, e.Arch);
        }
        if (e.HasSuccess)
        {
            writer.WriteBoolean("success"u8, e.Success);
        }
        if (e.HasExit)
        {
            writer.WriteNumber("exit"u8, e.Exit);
        }
        if (e.ExitName.Length > 0)
        {
            writer.WriteString("exit_name"u8, e.ExitName);
        }
        WriteNumber(writer, "pid"u8, e.HasPid, e.Pid);
        WriteNumber(writer, "ppid"u8, e.HasPpid, e.Ppid);
        WriteNumber(writer, "uid"u8, e.HasUid, e.Uid);
        WriteName(writer, "uid_name"u8, e.HasUidName, e.UidName);
        WriteNumber(writer, "auid"u8, e.HasAuid, e.Auid);
        WriteName(writer, "auid_name"u8, e.HasAuidName, e.AuidName);
        WriteNumber(writer, "euid"u8, e.HasEuid, e.Euid);
        WriteName(writer, "euid_name"u8, e.HasEuidName, e.EuidName);
        WriteName(writer, "suid_name"u8, e.HasSuidName, e.SuidName);
        WriteName(writer, "fsuid_name"u8, e.HasFsuidName, e.FsuidName);
        WriteNumber(writer, "gid"u8, e.HasGid, e.Gid);
        WriteName(writer, "gid_name"u8, e.HasGidName, e.GidName);
        WriteNumber(writer, "egid"u8, e.HasEgid, e.Egid);
        WriteName(writer, "egid_name"u8, e.HasEgidName, e.EgidName);
        WriteName(writer, "sgid_name"u8, e.HasSgidName, e.SgidName);
        WriteName(writer, "fsgid_name"u8, e.HasFsgidName, e.FsgidName);
        WriteNumber(writer, "ses"u8, e.HasSes, e.Ses);
        if (e.Tty.Length > 0)
        {
            writer.WriteString("tty"u8, e.Tty);
        }
        WriteBytesIfAny(writer, "comm"u8, e.Comm);
        WriteBytesIfAny(writer, "exe"u8, e.Exe);
        WriteBytesIfAny(writer, "key"u8, e.Key);
        WriteBytesIfAny(writer, "cwd"u8, e.Cwd);
        if (e.HasArgc)
        {
            writer.WriteNumber("argc"u8, e.Argc);
        }
        WriteList(writer, "argv"u8, e.Argv);
        if (e.ArgvIncomplete)
        {
            writer.WriteBoolean("argv_incomplete"u8, true);
        }
        WriteList(writer, "paths"u8, e.Paths);
        if (e.PathOwnerNames is PathOwnerNames owners)
        {
            WriteNames(writer, "path_ouid_names"u8, owners.OuidNames);
            WriteNames(writer, "path_ogid_names"u8, owners.OgidNames);
        }
        WriteList(writer, "proctitle"u8, e.Proctitle);
        if (e.Sockaddr is SocketAddress sa)
        {
            writer.WriteStartObject("sockaddr"u8);
            writer.WriteString("family"u8, sa.Family);
            if (sa.Address.Length > 0)
            {
                writer.WriteString("address"u8, sa.Address);
            }
            WriteNumber(writer, "port"u8, sa.HasPort, sa.Port);
            if (sa.Family == "unix")
            {
                WriteBytes(writer, "path"u8, sa.Path);
                writer.WriteBoolean("abstract"u8, sa.Abstract);
            }
            WriteNumber(writer, "netlink_pid"u8, sa.HasNetlinkPid, sa.NetlinkPid);
            WriteNumber(writer, "netlink_groups"u8, sa.HasNetlinkGroups, sa.NetlinkGroups);
            writer.WriteString("raw"u8, Convert.ToHexString(sa.Raw.Span));
            writer.WriteEndObject();
        }
        if (e.Completion.Length > 0)
        {
            writer.WriteString("completion"u8, e.Completion);
        }
        if (e.Context is ProcessContext context)
        {
            writer.WritePropertyName("context"u8);
            WriteContext(writer, context);
        }
        writer.WriteEndObject();
    }

    /// <summary>
    /// <c>context</c>: <c>{parent_state, parent, ancestry, ancestry_truncated, container_state, container,
    /// unit_state, unit, cgroup, cgroup_inherited, exec_serial}</c>. States are <c>"known"</c> or
    /// <c>"unknown"</c> (an unset state is left out, with its field); <c>parent</c> is <c>{pid, exe, argv,
    /// argv_truncated, exec_serial, start_unix_ms, source, cwd, uid, auid, exited}</c>; each ancestry level
    /// is <c>{pid, exe, exec_serial}</c>, or <c>{pid, unknown: true}</c> where the chain stops.
    /// Written as a value, so that other JSON (the collector's dashboard API) can carry the same object.
    /// </summary>
    public static void WriteContext(Utf8JsonWriter writer, ProcessContext c)
    {
        writer.WriteStartObject();
        if (WriteState(writer, "parent_state"u8, c.ParentState) && c.Parent is ProcessRef p)
        {
            writer.WriteStartObject("parent"u8);
            writer.WriteNumber("pid"u8, p.Pid);
            WriteBytesIfAny(writer, "exe"u8, p.Exe);
            WriteList(writer, "argv"u8, p.Argv);
            if (p.ArgvTruncated)
            {
                writer.WriteBoolean("argv_truncated"u8, true);
            }
            if (p.ExecSerial != 0)
            {
                writer.WriteNumber("exec_serial"u8, p.ExecSerial);
            }
            if (p.StartUnixMs != 0)
            {
                writer.WriteNumber("start_unix_ms"u8, p.StartUnixMs);
            }
            writer.WriteString("source"u8, SourceName(p.Source));
            WriteBytesIfAny(writer, "cwd"u8, p.Cwd);
            WriteNumber(writer, "uid"u8, p.HasUid, p.Uid);
            WriteNumber(writer, "auid"u8, p.HasAuid, p.Auid);
            if (p.Exited)
            {
                writer.WriteBoolean("exited"u8, true);
            }
            writer.WriteEndObject();
        }
        if (c.Ancestry.Count > 0)
        {
            writer.WriteStartArray("ancestry"u8);
            foreach (Ancestor a in c.Ancestry)
            {
                writer.WriteStartObject();
                writer.WriteNumber("pid"u8, a.Pid);
                if (a.Unknown)
                {
                    writer.WriteBoolean("unknown"u8, true);
                }
                else
                {
                    WriteBytesIfAny(writer, "exe"u8, a.Exe);
                    if (a.ExecSerial != 0)
                    {
                        writer.WriteNumber("exec_serial"u8, a.ExecSerial);
                    }
                }
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
            if (c.AncestryTruncated)
            {
                writer.WriteBoolean("ancestry_truncated"u8, true);
            }
        }
        if (WriteState(writer, "container_state"u8, c.ContainerState) && c.Container is Container k)
        {
            writer.WriteStartObject("container"u8);
            writer.WriteString("id"u8, k.Id);
            writer.WriteString("runtime"u8, k.Runtime);
            if (k.PodUid.Length > 0)
            {
                writer.WriteString("pod_uid"u8, k.PodUid);
            }
            if (k.Inherited)
            {
                writer.WriteBoolean("inherited"u8, true);
            }
            writer.WriteEndObject();
        }
        if (WriteState(writer, "unit_state"u8, c.UnitState) && c.Unit.Length > 0)
        {
            writer.WriteString("unit"u8, c.Unit);
        }
        WriteBytesIfAny(writer, "cgroup"u8, c.Cgroup);
        if (c.CgroupInherited)
        {
            writer.WriteBoolean("cgroup_inherited"u8, true);
        }
        if (c.ExecSerial != 0)
        {
            writer.WriteNumber("exec_serial"u8, c.ExecSerial);
        }
        writer.WriteEndObject();
    }

    private static bool WriteState(Utf8JsonWriter writer, ReadOnlySpan<byte> name, ContextState state)
    {
        switch (state)
        {
            case ContextState.Known:
                writer.WriteString(name, "known"u8);
                return true;
            case ContextState.Unknown:
                writer.WriteString(name, "unknown"u8);
                return false;
            default:
                return false;
        }
    }

    /// <summary>The JSON name of a <see cref="ProcessSource"/>: <c>exec</c>, <c>fork</c>, <c>proc</c>, <c>event</c>.</summary>
    public static string SourceName(ProcessSource source) => source switch
    {
        ProcessSource.Exec => "exec",
        ProcessSource.Fork => "fork",
        ProcessSource.ProcScan => "proc",
        ProcessSource.Event => "event",
        _ => "unspecified",
    };

    private static void WriteNumber(Utf8JsonWriter writer, ReadOnlySpan<byte> name, bool has, uint value)
    {
        if (has)
        {
            writer.WriteNumber(name, value);
        }
    }

    private static void WriteName(Utf8JsonWriter writer, ReadOnlySpan<byte> name, bool has, string value)
    {
        if (has)
        {
            writer.WriteString(name, value);
        }
    }

    // parallel to "paths": null where the id has no name ("" in the protocol)
    private static void WriteNames(Utf8JsonWriter writer, ReadOnlySpan<byte> name, Google.Protobuf.Collections.RepeatedField<string> values)
    {
        if (values.Count == 0)
        {
            return;
        }
        writer.WriteStartArray(name);
        foreach (string v in values)
        {
            if (v.Length == 0)
            {
                writer.WriteNullValue();
            }
            else
            {
                writer.WriteStringValue(v);
            }
        }
        writer.WriteEndArray();
    }

    private static void WriteBytesIfAny(Utf8JsonWriter writer, ReadOnlySpan<byte> name, ByteString value)
    {
        if (value.Length > 0)
        {
            WriteBytes(writer, name, value);
        }
    }

    private static void WriteList(Utf8JsonWriter writer, ReadOnlySpan<byte> name, Google.Protobuf.Collections.RepeatedField<ByteString> values)
    {
        if (values.Count == 0)
        {
            return;
        }
        writer.WriteStartArray(name);
        foreach (ByteString v in values)
        {
            WriteBytesValue(writer, v);
        }
        writer.WriteEndArray();
    }

    private static void WriteBytes(Utf8JsonWriter writer, ReadOnlySpan<byte> name, ByteString value)
    {
        writer.WritePropertyName(name);
        WriteBytesValue(writer, value);
    }

    private static void WriteBytesValue(Utf8JsonWriter writer, ByteString value)
    {
        ArrayBufferWriter<byte> scratch = t_scratch ??= new ArrayBufferWriter<byte>(1024);
        scratch.ResetWrittenCount();
        ByteStringJson.WriteLiteral(value.Span, scratch);
        // the literal may hold lone surrogate escapes (\udc80..\udcff), valid JSON that the writer's validation would refuse
        writer.WriteRawValue(scratch.WrittenSpan, skipInputValidation: true);
    }
}
