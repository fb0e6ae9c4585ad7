using System.Text;
using Google.Protobuf;
using Sluice.Audit.Records;
using Sluice.Audit.Tables;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Events;

/// <summary>Turns a reassembled <see cref="AuditEvent"/> and its <see cref="AuditEventSummary"/> into the protocol's <see cref="Event"/>.</summary>
/// <remarks>
/// The record texts are copied (the audit event's buffers go back to the pool when it is disposed);
/// the summary's byte arrays are wrapped without copying, so the summary must not be changed afterwards.
/// </remarks>
internal static class AuditEventMapper
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
            FirstType = ev.Count == 0 ? "" : AuditMessageTypeTable.NameOrUnknown(ev.MainType),
            Completion = Completion(ev.Reason),
        };
        for (int i = 0; i < ev.Count; i++)
        {
            AuditRecord r = ev[i];
            var record = new Record
            {
                Type = (uint)r.Type,
                TypeName = AuditMessageTypeTable.NameOrUnknown(r.Type),
                Raw = ByteString.CopyFrom(r.Text),
            };
            if (!r.Enriched.IsEmpty)
            {
                record.Enriched = ByteString.CopyFrom(r.Enriched);
            }
            e.Records.Add(record);
        }

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
        return e;
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
