using System.Text;
using Google.Protobuf;
using Sluice.Audit.Records;
using Sluice.Audit.Tables;
using Sluice.Protocol.V1;

namespace Sluice.Protocol.Mapping;

/// <summary>Turns a reassembled <see cref="AuditEvent"/> and its <see cref="AuditEventSummary"/> into the protocol's <see cref="Event"/>.</summary>
/// <remarks>
/// <para>
/// Two forms. The full form (<see cref="ToProto"/>) carries the records and the fields interpreted from
/// them. The raw form (<see cref="RawEventMapper"/>) carries the records and the header only, with
/// <c>raw_only</c> set: the agent's cheapest way to ship an event. The collector turns it into the
/// full form with <see cref="Expand"/>, which runs the same interpreter on the same records, so both
/// forms of an event store the same row (checked over the corpus by the tests).
/// </para>
/// <para>
/// The full form copies the record texts (the audit event's buffers go back to the pool when it is
/// disposed); the summary's byte arrays are wrapped without copying, so the summary must not be
/// changed afterwards.
/// </para>
/// </remarks>
public static class AuditEventMapper
{
    /// <summary>Maps <paramref name="ev"/>; <paramref name="summary"/> defaults to <see cref="AuditEventInterpreter.Interpret"/>.</summary>
    public static Event ToProto(AuditEvent ev, AuditEventSummary? summary = null)
    {
        summary ??= AuditEventInterpreter.Interpret(ev);
        var e = new Event
        {
            Serial = ev.Serial,
            Timestamp = Encoding.ASCII.GetString(ev.Timestamp),
            TimeUnixMs = ev.UnixMilliseconds,
            Node = ev.Node.IsEmpty ? "" : Encoding.UTF8.GetString(ev.Node),
            Completion = Completion(ev.Reason),
        };
        for (int i = 0; i < ev.Count; i++)
        {
            AuditRecord r = ev[i];
            var record = new Record
            {
                Type = (uint)r.Type,
                Raw = ByteString.CopyFrom(r.Text),
            };
            if (!r.Enriched.IsEmpty)
            {
                record.Enriched = ByteString.CopyFrom(r.Enriched);
            }
            e.Records.Add(record);
        }
        AddInterpretation(e, ev, summary);
        return e;
    }

    /// <summary>
    /// The full form of a <c>raw_only</c> event: its header and records as they are, and every other
    /// field interpreted from the records here, as the agent would have (names excepted: they are the
    /// host's, and an agent that resolves them ships the full form). Whatever else the event carried is
    /// not kept: the fields say what the records say. A record whose header does not parse is kept, but
    /// nothing is interpreted from the event then (the records are stored; the fields stay empty).
    /// Other events are returned as they are. With <paramref name="interpret"/> false, only the records'
    /// type names are added (for an event whose interpretation failed).
    /// </summary>
    public static Event Expand(Event e, bool interpret = true)
    {
        ArgumentNullException.ThrowIfNull(e);
        if (!e.RawOnly)
        {
            return e;
        }
        var full = new Event
        {
            Serial = e.Serial,
            Timestamp = e.Timestamp,
            TimeUnixMs = e.TimeUnixMs,
            Node = e.Node,
            Completion = e.Completion,
            // The agent's process table is not in the records: the context is kept as the agent sent it.
            Context = e.Context,
        };
        using var ev = AuditEvent.Detached();
        bool whole = interpret;
        foreach (Record r in e.Records)
        {
            full.Records.Add(new Record { Type = r.Type, Raw = r.Raw, Enriched = r.Enriched });
            // Once a record cannot be appended nothing will be interpreted: the rest are only kept.
            whole = whole && r.Type <= ushort.MaxValue && ev.TryAppend((AuditMessageType)r.Type, r.Raw.Span, r.Enriched.Span);
        }
        if (whole && ev.Count > 0)
        {
            AddInterpretation(full, ev, AuditEventInterpreter.Interpret(ev));
        }
        else
        {
            AddTypeNames(full);
        }
        return full;
    }

    /// <summary>Record type names, the main type, and every field interpreted from the records.</summary>
    private static void AddInterpretation(Event e, AuditEvent ev, AuditEventSummary summary)
    {
        AddTypeNames(e);
        e.FirstType = ev.Count == 0 ? "" : AuditMessageTypeTable.NameOrUnknown(ev.MainType);
        if (summary.Syscall is not null)
        {
            e.Syscall = summary.Syscall;
        }
        if (summary.ArchName is not null)
        {
            e.Arch = summary.ArchName;
        }
        if (summary.Success is bool success)
        {
            e.Success = success;
        }
        if (summary.Exit is long exit)
        {
            e.Exit = exit;
        }
        if (summary.ExitName is not null)
        {
            e.ExitName = summary.ExitName;
        }
        if (summary.Pid is uint pid) { e.Pid = pid; }
        if (summary.Ppid is uint ppid) { e.Ppid = ppid; }
        if (summary.Uid is uint uid) { e.Uid = uid; }
        if (summary.Auid is uint auid) { e.Auid = auid; }
        if (summary.Euid is uint euid) { e.Euid = euid; }
        if (summary.Gid is uint gid) { e.Gid = gid; }
        if (summary.Egid is uint egid) { e.Egid = egid; }
        if (summary.Ses is uint ses) { e.Ses = ses; }
        if (summary.Tty is not null)
        {
            e.Tty = summary.Tty;
        }
        e.Comm = Wrap(summary.Comm);
        e.Exe = Wrap(summary.Exe);
        e.Key = Wrap(summary.Key);
        e.Cwd = Wrap(summary.Cwd);
        if (summary.Argc is int argc && argc >= 0)
        {
            e.Argc = (uint)argc;
        }
        AddAll(e.Argv, summary.Argv);
        e.ArgvIncomplete = summary.Argv is not null && !summary.ArgvComplete;
        AddAll(e.Paths, summary.Paths);
        AddAll(e.Proctitle, summary.Proctitle);
        if (summary.Names is AuditEventNames n)
        {
            AddNames(e, n);
        }
        if (summary.SocketAddress is SocketAddressInfo sa)
        {
            var addr = new SocketAddress
            {
                Family = sa.Family,
                Address = sa.Address ?? "",
                Path = Wrap(sa.Path),
                Abstract = sa.IsAbstract,
                Raw = Wrap(sa.Raw),
            };
            if (sa.Port is ushort port) { addr.Port = port; }
            if (sa.NetlinkPid is uint nlPid) { addr.NetlinkPid = nlPid; }
            if (sa.NetlinkGroups is uint groups) { addr.NetlinkGroups = groups; }
            e.Sockaddr = addr;
        }
    }

    private static void AddTypeNames(Event e)
    {
        foreach (Record r in e.Records)
        {
            r.TypeName = AuditMessageTypeTable.NameOrUnknown(r.Type);
        }
    }

    /// <summary>The protocol's spelling of a completion reason.</summary>
    public static string Completion(CompletionReason reason) => reason switch
    {
        CompletionReason.EndOfEvent => "eoe",
        CompletionReason.LastRecord => "last_record",
        CompletionReason.Timeout => "timeout",
        CompletionReason.Evicted => "evicted",
        CompletionReason.Flushed => "flushed",
        _ => reason.ToString(),
    };

    private static void AddNames(Event e, AuditEventNames n)
    {
        if (n.Uid is not null) { e.UidName = n.Uid; }
        if (n.Auid is not null) { e.AuidName = n.Auid; }
        if (n.Euid is not null) { e.EuidName = n.Euid; }
        if (n.Suid is not null) { e.SuidName = n.Suid; }
        if (n.Fsuid is not null) { e.FsuidName = n.Fsuid; }
        if (n.Gid is not null) { e.GidName = n.Gid; }
        if (n.Egid is not null) { e.EgidName = n.Egid; }
        if (n.Sgid is not null) { e.SgidName = n.Sgid; }
        if (n.Fsgid is not null) { e.FsgidName = n.Fsgid; }
        if (n.PathOuid is not null && n.PathOgid is not null)
        {
            var owners = new PathOwnerNames();
            foreach (string? owner in n.PathOuid)
            {
                owners.OuidNames.Add(owner ?? "");
            }
            foreach (string? group in n.PathOgid)
            {
                owners.OgidNames.Add(group ?? "");
            }
            e.PathOwnerNames = owners;
        }
    }

    private static ByteString Wrap(byte[]? bytes) =>
        bytes is null || bytes.Length == 0 ? ByteString.Empty : UnsafeByteOperations.UnsafeWrap(bytes);

    private static void AddAll(Google.Protobuf.Collections.RepeatedField<ByteString> target, List<byte[]>? values)
    {
        if (values is null)
        {
            return;
        }
        foreach (byte[] v in values)
        {
            target.Add(Wrap(v));
        }
    }
}
