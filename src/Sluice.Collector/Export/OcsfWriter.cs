using System.Buffers;
using System.Globalization;
using IPAddress = System.Net.IPAddress;
using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.Collections;
using Sluice.Audit.Tables;
using Sluice.Collector.Storage;
using Sluice.Protocol;
using Sluice.Protocol.Json;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Export;

/// <summary>Writes one stored event as an OCSF object of the class <see cref="OcsfActivity"/> chose.</summary>
/// <remarks>
/// Only what the event holds is written: an attribute whose source field is absent is left out. Byte fields
/// (comm, exe, paths, argv, the records) are written as the replay format writes them
/// (<see cref="ByteStringJson"/>): valid UTF-8 as is, each other byte as <c>\udc80</c>..<c>\udcff</c>.
/// </remarks>
internal static class OcsfWriter
{
    private const uint Unset = uint.MaxValue;

    private static readonly JsonWriterOptions RecordsOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_scratch;

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_records;

    public static void Write(Utf8JsonWriter w, StoredEvent stored, OcsfActivity a)
    {
        Event e = stored.Event;
        (int classUid, string className, int categoryUid, string categoryName) = ClassOf(a.Class);
        w.WriteStartObject();
        w.WriteNumber("activity_id", a.Id);
        w.WriteString("activity_name", a.Name);
        w.WriteNumber("category_uid", categoryUid);
        w.WriteString("category_name", categoryName);
        w.WriteNumber("class_uid", classUid);
        w.WriteString("class_name", className);
        w.WriteNumber("type_uid", ((long)classUid * 100) + a.Id);
        w.WriteString("type_name", $"{className}: {(a.Id == OcsfActivity.Other ? "Other" : a.Name)}");
        // auditd has no severity; every record is telemetry, none a finding
        w.WriteNumber("severity_id", 1);
        w.WriteString("severity", "Informational");
        w.WriteNumber("time", e.TimeUnixMs);
        WriteMetadata(w, stored);
        WriteDevice(w, stored);
        switch (a.Class)
        {
            case EventClass.Process:
                WriteProcessActivity(w, e, a);
                break;
            case EventClass.FileSystem:
                WriteActor(w, e, a.Message);
                WriteFile(w, "file", a.File!, e);
                if (a.FileResult is PathItem result)
                {
                    WriteFile(w, "file_result", result, e);
                }
                break;
            case EventClass.Network:
                WriteActor(w, e, a.Message);
                WriteEndpoints(w, e);
                break;
            case EventClass.Authentication or EventClass.AccountChange:
                WriteActor(w, e, a.Message);
                WriteSubject(w, a.Message!);
                WriteSourceEndpoint(w, a.Message!);
                if (a.Class == EventClass.Authentication)
                {
                    WriteTargetHost(w, stored);
                }
                break;
            default:
                WriteActor(w, e, a.Message);
                break;
        }
        WriteStatus(w, e);
        WriteRawData(w, e);
        WriteUnmapped(w, e, a.Message ?? (OcsfRecords.MainUserRecord(e) is Record main ? UserMessage.Read(main) : null));
        w.WriteEndObject();
    }

    private static (int ClassUid, string ClassName, int CategoryUid, string CategoryName) ClassOf(EventClass c) => c switch
    {
        EventClass.FileSystem => (1001, "File System Activity", 1, "System Activity"),
        EventClass.Process => (1007, "Process Activity", 1, "System Activity"),
        EventClass.AccountChange => (3001, "Account Change", 3, "Identity & Access Management"),
        EventClass.Authentication => (3002, "Authentication", 3, "Identity & Access Management"),
        EventClass.Network => (4001, "Network Activity", 4, "Network Activity"),
        _ => (0, "Base Event", 0, "Uncategorized"),
    };

    private static void WriteMetadata(Utf8JsonWriter w, StoredEvent stored)
    {
        Event e = stored.Event;
        w.WriteStartObject("metadata");
        w.WriteString("version", OcsfEvent.SchemaVersion);
        w.WriteStartObject("product");
        w.WriteString("name", "Sluice");
        w.WriteString("vendor_name", "Sluice");
        w.WriteString("version", ProductVersion.Current);
        w.WriteEndObject();
        // device and actor on the IAM and network classes come from the host profile
        w.WriteStartArray("profiles");
        w.WriteStringValue("host");
        if (ContainerOf(e) is not null)
        {
            // process.container comes from the container profile
            w.WriteStringValue("container");
        }
        w.WriteEndArray();
        // The same in every export and on the stream: the batch the event was stored in, and the audit event's own
        // identity, audit(SEC.MSEC:SERIAL). The serial alone is not unique in a batch (a serial reused after a
        // reboot, 0 from senders outside the kernel's numbering); with its time it is, but for two serial-0 events
        // of one millisecond.
        w.WriteString("uid", string.Create(CultureInfo.InvariantCulture, $"{stored.AgentId}:{stored.Sequence}:{e.Timestamp}:{e.Serial}"));
        if (e.FirstType.Length > 0)
        {
            w.WriteString("event_code", e.FirstType);
        }
        w.WriteString("original_time", e.Timestamp);
        w.WriteEndObject();
    }

    private static void WriteDevice(Utf8JsonWriter w, StoredEvent stored)
    {
        w.WriteStartObject("device");
        if (stored.Hostname.Length > 0)
        {
            w.WriteString("hostname", stored.Hostname);
        }
        // the agent id names one audited host in the fleet
        w.WriteString("uid", stored.AgentId);
        // the collector is not told whether the host is a server, a desktop or a VM
        w.WriteNumber("type_id", 0);
        w.WriteString("type", "Unknown");
        w.WriteEndObject();
    }

    private static void WriteProcessActivity(Utf8JsonWriter w, Event e, OcsfActivity a)
    {
        // Launch is the exec step (launch_type_id 3): the actor is the same pid before it replaced its image, of
        // which nothing else is recorded; Set User ID is reflexive. So the actor's process is the pid alone.
        w.WriteStartObject("actor");
        w.WriteStartObject("process");
        w.WriteNumber("pid", e.Pid);
        w.WriteEndObject();
        WriteActorUserAndSession(w, e, null);
        w.WriteEndObject();
        WriteProcess(w, "process", e, a.Id == 1 ? e.Argv : e.Proctitle);
        if (a.Id == 1)
        {
            w.WriteNumber("launch_type_id", 3);
            w.WriteString("launch_type", "Exec");
        }
    }

    /// <summary>The actor: the calling process, the login user (auid) and the audit session, those that are known.</summary>
    private static void WriteActor(Utf8JsonWriter w, Event e, UserMessage? m)
    {
        bool hasSession = (e.HasSes && e.Ses != Unset) || Terminal(e, m) is not null;
        bool hasUser = e.HasAuid && e.Auid != Unset;
        if (!e.HasPid && !hasUser && !hasSession)
        {
            return;
        }
        w.WriteStartObject("actor");
        if (e.HasPid)
        {
            WriteProcess(w, "process", e, e.Proctitle);
        }
        WriteActorUserAndSession(w, e, m);
        w.WriteEndObject();
    }

    private static void WriteActorUserAndSession(Utf8JsonWriter w, Event e, UserMessage? m)
    {
        // auid: the user who logged in, kept across su and sudo; 4294967295 is "not set" (a daemon)
        if (e.HasAuid && e.Auid != Unset)
        {
            WriteUser(w, "user", e.Auid, e.HasAuidName ? e.AuidName : null);
        }
        byte[]? terminal = Terminal(e, m);
        if ((e.HasSes && e.Ses != Unset) || terminal is not null)
        {
            w.WriteStartObject("session");
            if (e.HasSes && e.Ses != Unset)
            {
                w.WriteString("uid", e.Ses.ToString(CultureInfo.InvariantCulture));
            }
            if (terminal is not null)
            {
                WriteBytes(w, "terminal", terminal);
            }
            w.WriteEndObject();
        }
    }

    // tty= of a syscall ("(none)" is none), else terminal= of a user-space message
    private static byte[]? Terminal(Event e, UserMessage? m) =>
        e.Tty.Length > 0 && e.Tty != "(none)" ? System.Text.Encoding.UTF8.GetBytes(e.Tty) : m?.Terminal;

    /// <summary>The event's container, when the agent's process context names one (OCSF's container profile).</summary>
    private static Container? ContainerOf(Event e) =>
        e.HasPid && ContextColumns.ContainerOf(e.Context) is { Id.Length: > 0 } k ? k : null;

    private static void WriteCommandLine(Utf8JsonWriter w, RepeatedField<ByteString> commandLine)
    {
        if (commandLine.Count > 0)
        {
            // OCSF's cmd_line is one string: the arguments joined by spaces (the exact list is in unmapped)
            var joined = new ArrayBufferWriter<byte>();
            for (int i = 0; i < commandLine.Count; i++)
            {
                if (i > 0)
                {
                    joined.Write(" "u8);
                }
                joined.Write(commandLine[i].Span);
            }
            WriteBytes(w, "cmd_line", joined.WrittenSpan);
        }
    }

    private static void WriteExecutable(Utf8JsonWriter w, ByteString exe)
    {
        if (exe.Length > 0)
        {
            w.WriteStartObject("file");
            WriteBytes(w, "name", BaseName(exe.Span));
            WriteBytes(w, "path", exe.Span);
            // what a process executes is a regular file: execve refuses anything else
            w.WriteNumber("type_id", 1);
            w.WriteString("type", "Regular File");
            w.WriteEndObject();
        }
    }

    /// <summary>
    /// <c>parent_process</c>: the parent the agent's process table knew (its pid, exe, argv, uid, cwd, start), else the
    /// ppid alone. The agent's parent is the process that forked this one, even when the kernel has since reparented it.
    /// </summary>
    private static void WriteParentProcess(Utf8JsonWriter w, Event e)
    {
        if (e.Context is { ParentState: ContextState.Known, Parent: ProcessRef p })
        {
            w.WriteStartObject("parent_process");
            w.WriteNumber("pid", p.Pid);
            WriteCommandLine(w, p.Argv);
            WriteExecutable(w, p.Exe);
            if (p.StartUnixMs > 0)
            {
                w.WriteNumber("created_time", p.StartUnixMs);
            }
            if (p.HasUid)
            {
                WriteUser(w, "user", p.Uid, null);
            }
            if (p.Cwd.Length > 0)
            {
                WriteBytes(w, "working_directory", p.Cwd.Span);
            }
            w.WriteEndObject();
        }
        else if (e.HasPpid)
        {
            w.WriteStartObject("parent_process");
            w.WriteNumber("pid", e.Ppid);
            w.WriteEndObject();
        }
    }

    /// <summary>
    /// <c>lineage</c>: the exe paths of the ancestry, farthest first, then the process's own, as OCSF's example has it;
    /// only the levels the agent knew, up to the first it did not (the whole context is in <c>unmapped.context</c>).
    /// </summary>
    private static void WriteLineage(Utf8JsonWriter w, Event e)
    {
        if (e.Context is not { ParentState: ContextState.Known } c || c.Ancestry.Count == 0 || e.Exe.Length == 0)
        {
            return;
        }
        int known = 0;
        while (known < c.Ancestry.Count && !c.Ancestry[known].Unknown && c.Ancestry[known].Exe.Length > 0)
        {
            known++;
        }
        if (known == 0)
        {
            return;
        }
        w.WriteStartArray("lineage");
        for (int i = known - 1; i >= 0; i--)
        {
            WriteBytesValue(w, c.Ancestry[i].Exe.Span);
        }
        WriteBytesValue(w, e.Exe.Span);
        w.WriteEndArray();
    }

    private static void WriteContainer(Utf8JsonWriter w, Event e)
    {
        if (ContainerOf(e) is not Container k)
        {
            return;
        }
        w.WriteStartObject("container");
        w.WriteString("uid", k.Id);
        if (k.Runtime.Length > 0)
        {
            w.WriteString("runtime", k.Runtime);
        }
        if (k.PodUid.Length > 0)
        {
            w.WriteString("pod_uuid", k.PodUid);
        }
        w.WriteEndObject();
    }

    private static void WriteProcess(Utf8JsonWriter w, string name, Event e, RepeatedField<ByteString> commandLine)
    {
        w.WriteStartObject(name);
        w.WriteNumber("pid", e.Pid);
        if (e.Comm.Length > 0)
        {
            WriteBytes(w, "name", e.Comm.Span);
        }
        WriteCommandLine(w, commandLine);
        WriteExecutable(w, e.Exe);
        WriteParentProcess(w, e);
        WriteLineage(w, e);
        WriteContainer(w, e);
        if (e.HasUid)
        {
            WriteUser(w, "user", e.Uid, e.HasUidName ? e.UidName : null);
        }
        if (e.Cwd.Length > 0)
        {
            WriteBytes(w, "working_directory", e.Cwd.Span);
        }
        w.WriteEndObject();
    }

    private static void WriteUser(Utf8JsonWriter w, string name, uint uid, string? userName)
    {
        w.WriteStartObject(name);
        if (userName is not null)
        {
            w.WriteString("name", userName);
        }
        w.WriteString("uid", uid.ToString(CultureInfo.InvariantCulture));
        w.WriteEndObject();
    }

    /// <summary>Authentication and Account Change: the account the message is about (acct=, id=).</summary>
    private static void WriteSubject(Utf8JsonWriter w, UserMessage m)
    {
        w.WriteStartObject("user");
        if (m.Acct is not null)
        {
            WriteBytes(w, "name", m.Acct);
        }
        if (m.Id is uint id)
        {
            w.WriteString("uid", id.ToString(CultureInfo.InvariantCulture));
        }
        w.WriteEndObject();
    }

    /// <summary>Where a login came from: hostname= and addr= of the message, when it names them.</summary>
    private static void WriteSourceEndpoint(Utf8JsonWriter w, UserMessage m)
    {
        IPAddress? ip = m.Addr is not null && IPAddress.TryParse(System.Text.Encoding.ASCII.GetString(m.Addr), out IPAddress? parsed) ? parsed : null;
        if (ip is null && m.Hostname is null)
        {
            return;
        }
        w.WriteStartObject("src_endpoint");
        if (m.Hostname is not null)
        {
            WriteBytes(w, "hostname", m.Hostname);
        }
        if (ip is not null)
        {
            w.WriteString("ip", ip.ToString());
        }
        w.WriteEndObject();
    }

    /// <summary>
    /// Authentication's target (the class requires it or a service): the audited host itself, where PAM or the
    /// login program checked the user. The PAM service name is not in the record, so no service is written.
    /// </summary>
    private static void WriteTargetHost(Utf8JsonWriter w, StoredEvent stored)
    {
        w.WriteStartObject("dst_endpoint");
        if (stored.Hostname.Length > 0)
        {
            w.WriteString("hostname", stored.Hostname);
        }
        w.WriteString("uid", stored.AgentId);
        w.WriteEndObject();
    }

    private static void WriteFile(Utf8JsonWriter w, string name, PathItem item, Event e)
    {
        w.WriteStartObject(name);
        WriteBytes(w, "name", BaseName(item.Name));
        // OCSF's path is a full path: a relative name (to the cwd or to a directory descriptor) is only in unmapped.paths
        if (item.Name[0] == (byte)'/')
        {
            WriteBytes(w, "path", item.Name);
            if (ParentFolder(item.Name) is { } parent)
            {
                WriteBytes(w, "parent_folder", parent);
            }
        }
        (int typeId, string typeName) = FileType(item.Mode);
        w.WriteNumber("type_id", typeId);
        w.WriteString("type", typeName);
        if (item.Ouid is uint ouid)
        {
            string? owner = e.PathOwnerNames is { } names && item.Index < names.OuidNames.Count && names.OuidNames[item.Index].Length > 0
                ? names.OuidNames[item.Index]
                : null;
            WriteUser(w, "owner", ouid, owner);
        }
        w.WriteEndObject();
    }

    private static (int, string) FileType(uint? mode) => (mode & 0xF000) switch
    {
        null => (0, "Unknown"),
        0x8000 => (1, "Regular File"),
        0x4000 => (2, "Folder"),
        0x2000 => (3, "Character Device"),
        0x6000 => (4, "Block Device"),
        0xC000 => (5, "Local Socket"),
        0x1000 => (6, "Named Pipe"),
        0xA000 => (7, "Symbolic Link"),
        _ => (99, "Other"),
    };

    // The last component, trailing slashes ignored ("/etc/" -> "etc", "/" -> "/").
    private static ReadOnlySpan<byte> BaseName(ReadOnlySpan<byte> path)
    {
        ReadOnlySpan<byte> trimmed = path.TrimEnd((byte)'/');
        if (trimmed.IsEmpty)
        {
            return path.IsEmpty ? path : "/"u8;
        }
        int slash = trimmed.LastIndexOf((byte)'/');
        return slash < 0 ? trimmed : trimmed[(slash + 1)..];
    }

    private static byte[]? ParentFolder(ReadOnlySpan<byte> absolute)
    {
        ReadOnlySpan<byte> trimmed = absolute.TrimEnd((byte)'/');
        int slash = trimmed.LastIndexOf((byte)'/');
        if (trimmed.IsEmpty || slash < 0)
        {
            return null;
        }
        return slash == 0 ? "/"u8.ToArray() : trimmed[..slash].ToArray();
    }

    private static void WriteEndpoints(Utf8JsonWriter w, Event e)
    {
        SocketAddress sa = e.Sockaddr;
        // connect and send name the peer (the responder); accept and receive the peer that initiated;
        // bind names the socket's own address, whose role in a later connection is not known yet
        bool peerIsDestination = e.Syscall is "connect" or "sendto" or "sendmsg";
        bool known = e.Syscall is "connect" or "accept" or "accept4";
        // the class requires an endpoint: Classify made sure there is one (an IP, or a unix path)
        w.WriteStartObject(peerIsDestination ? "dst_endpoint" : "src_endpoint");
        if (sa.Family == "unix")
        {
            // a unix socket's address is a path (or an abstract name): no IP attribute fits, name does
            WriteBytes(w, "name", sa.Path.Span);
        }
        else
        {
            if (sa.Address.Length > 0)
            {
                w.WriteString("ip", sa.Address);
            }
            if (sa.HasPort)
            {
                w.WriteNumber("port", sa.Port);
            }
        }
        w.WriteEndObject();
        w.WriteBoolean("is_src_dst_assignment_known", known);
        if (e.Syscall is "connect" or "accept" or "accept4")
        {
            w.WriteStartObject("connection_info");
            w.WriteNumber("direction_id", e.Syscall == "connect" ? 2 : 1);
            w.WriteString("direction", e.Syscall == "connect" ? "Outbound" : "Inbound");
            w.WriteEndObject();
        }
    }

    private static void WriteStatus(Utf8JsonWriter w, Event e)
    {
        if (!e.HasSuccess)
        {
            return;
        }
        w.WriteNumber("status_id", e.Success ? 1 : 2);
        w.WriteString("status", e.Success ? "Success" : "Failure");
        if (!e.Success && e.HasExit && e.Exit < 0)
        {
            w.WriteString("status_code", e.Exit.ToString(CultureInfo.InvariantCulture));
            if (e.ExitName.Length > 0)
            {
                w.WriteString("status_detail", e.ExitName);
            }
        }
    }

    /// <summary>
    /// <c>raw_data</c>: the event's records exactly as the replay format keeps them, the JSON text of its
    /// <c>records</c> array (<c>[{"type", "raw", "enriched"?}]</c>) in one string. A record's text may hold
    /// any byte, newlines included, so lines would not separate records reliably; the array does.
    /// </summary>
    private static void WriteRawData(Utf8JsonWriter w, Event e)
    {
        ArrayBufferWriter<byte> records = t_records ??= new ArrayBufferWriter<byte>(4096);
        records.ResetWrittenCount();
        using (var inner = new Utf8JsonWriter(records, RecordsOptions))
        {
            inner.WriteStartArray();
            foreach (Record r in e.Records)
            {
                inner.WriteStartObject();
                inner.WriteString("type", r.TypeName.Length > 0 ? r.TypeName : AuditMessageTypeTable.NameOrUnknown(r.Type));
                WriteBytes(inner, "raw", r.Raw.Span);
                if (r.Enriched.Length > 0)
                {
                    WriteBytes(inner, "enriched", r.Enriched.Span);
                }
                inner.WriteEndObject();
            }
            inner.WriteEndArray();
        }
        // The array's text is valid UTF-8 (bytes that are not are \udcXX escapes in it): an ordinary JSON string.
        w.WriteString("raw_data", records.WrittenSpan);
        // the text may be large; the next event starts small again
        if (records.Capacity > 1 << 20)
        {
            t_records = null;
        }
    }

    /// <summary>
    /// <c>unmapped</c>: the event's fields that no OCSF attribute holds, under their replay-format names and
    /// in its encoding, and the user-space message's other fields under <c>msg</c>.
    /// </summary>
    private static void WriteUnmapped(Utf8JsonWriter w, Event e, UserMessage? m)
    {
        w.WriteStartObject("unmapped");
        w.WriteNumber("serial", e.Serial);
        if (e.Node.Length > 0)
        {
            w.WriteString("node", e.Node);
        }
        if (e.FirstType.Length > 0)
        {
            w.WriteString("first_type", e.FirstType);
        }
        if (e.Syscall.Length > 0)
        {
            w.WriteString("syscall", e.Syscall);
        }
        if (e.Arch.Length > 0)
        {
            w.WriteString("arch", e.Arch);
        }
        if (e.Key.Length > 0)
        {
            WriteBytes(w, "key", e.Key.Span);
        }
        if (e.HasExit)
        {
            w.WriteNumber("exit", e.Exit);
        }
        if (e.ExitName.Length > 0 && !(e.HasSuccess && !e.Success))
        {
            w.WriteString("exit_name", e.ExitName);
        }
        WriteId(w, "euid", e.HasEuid, e.Euid, e.HasEuidName, e.EuidName);
        WriteId(w, "gid", e.HasGid, e.Gid, e.HasGidName, e.GidName);
        WriteId(w, "egid", e.HasEgid, e.Egid, e.HasEgidName, e.EgidName);
        WriteName(w, "suid_name", e.HasSuidName, e.SuidName);
        WriteName(w, "fsuid_name", e.HasFsuidName, e.FsuidName);
        WriteName(w, "sgid_name", e.HasSgidName, e.SgidName);
        WriteName(w, "fsgid_name", e.HasFsgidName, e.FsgidName);
        if (e.HasArgc)
        {
            w.WriteNumber("argc", e.Argc);
        }
        WriteList(w, "argv", e.Argv);
        if (e.ArgvIncomplete)
        {
            w.WriteBoolean("argv_incomplete", true);
        }
        WriteList(w, "proctitle", e.Proctitle);
        WriteList(w, "paths", e.Paths);
        if (e.PathOwnerNames is PathOwnerNames owners)
        {
            WriteNames(w, "path_ouid_names", owners.OuidNames);
            WriteNames(w, "path_ogid_names", owners.OgidNames);
        }
        if (e.Sockaddr is SocketAddress sa)
        {
            WriteSockaddr(w, sa);
        }
        if (e.Completion.Length > 0)
        {
            w.WriteString("completion", e.Completion);
        }
        if (m is not null && m.Others.Count > 0)
        {
            w.WriteStartObject("msg");
            foreach ((string key, byte[] value) in m.Others)
            {
                WriteBytes(w, key, value);
            }
            w.WriteEndObject();
        }
        if (e.Context is ProcessContext context)
        {
            // the whole process context, states, unknown levels and truncation included, as the replay format has it
            w.WritePropertyName("context");
            EventJsonWriter.WriteContext(w, context);
        }
        w.WriteEndObject();
    }

    private static void WriteId(Utf8JsonWriter w, string name, bool has, uint value, bool hasName, string idName)
    {
        if (has)
        {
            w.WriteNumber(name, value);
        }
        WriteName(w, name + "_name", hasName, idName);
    }

    private static void WriteName(Utf8JsonWriter w, string name, bool has, string value)
    {
        if (has)
        {
            w.WriteString(name, value);
        }
    }

    private static void WriteNames(Utf8JsonWriter w, string name, RepeatedField<string> values)
    {
        if (values.Count == 0)
        {
            return;
        }
        w.WriteStartArray(name);
        foreach (string v in values)
        {
            if (v.Length == 0)
            {
                w.WriteNullValue();
            }
            else
            {
                w.WriteStringValue(v);
            }
        }
        w.WriteEndArray();
    }

    // as the replay format writes it
    private static void WriteSockaddr(Utf8JsonWriter w, SocketAddress sa)
    {
        w.WriteStartObject("sockaddr");
        w.WriteString("family", sa.Family);
        if (sa.Address.Length > 0)
        {
            w.WriteString("address", sa.Address);
        }
        if (sa.HasPort)
        {
            w.WriteNumber("port", sa.Port);
        }
        if (sa.Family == "unix")
        {
            WriteBytes(w, "path", sa.Path.Span);
            w.WriteBoolean("abstract", sa.Abstract);
        }
        if (sa.HasNetlinkPid)
        {
            w.WriteNumber("netlink_pid", sa.NetlinkPid);
        }
        if (sa.HasNetlinkGroups)
        {
            w.WriteNumber("netlink_groups", sa.NetlinkGroups);
        }
        w.WriteString("raw", Convert.ToHexString(sa.Raw.Span));
        w.WriteEndObject();
    }

    private static void WriteList(Utf8JsonWriter w, string name, RepeatedField<ByteString> values)
    {
        if (values.Count == 0)
        {
            return;
        }
        w.WriteStartArray(name);
        foreach (ByteString v in values)
        {
            WriteBytesValue(w, v.Span);
        }
        w.WriteEndArray();
    }

    private static void WriteBytes(Utf8JsonWriter w, string name, ReadOnlySpan<byte> value)
    {
        w.WritePropertyName(name);
        WriteBytesValue(w, value);
    }

    private static void WriteBytesValue(Utf8JsonWriter w, ReadOnlySpan<byte> value)
    {
        ArrayBufferWriter<byte> scratch = t_scratch ??= new ArrayBufferWriter<byte>(1024);
        scratch.ResetWrittenCount();
        ByteStringJson.WriteLiteral(value, scratch);
        // the literal may hold lone surrogate escapes (\udc80..\udcff): valid JSON text the writer's validation would refuse
        w.WriteRawValue(scratch.WrittenSpan, skipInputValidation: true);
        if (scratch.Capacity > 1 << 20)
        {
            t_scratch = null;
        }
    }
}
