using System.Collections.Frozen;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Export;

/// <summary>An event's OCSF class and activity (OCSF 1.8.0: ids and captions as the schema defines them).</summary>
/// <param name="File">File System Activity: the PATH item the activity is about.</param>
/// <param name="FileResult">File System Activity, Rename: the new name.</param>
/// <param name="Message">Authentication and Account Change: the user-space message's fields.</param>
internal sealed record OcsfActivity(EventClass Class, int Id, string Name, PathItem? File = null, PathItem? FileResult = null, UserMessage? Message = null)
{
    public const int Other = 99;

    /// <summary>
    /// The class and activity of <paramref name="e"/>. An event goes to a class only when it has what the class
    /// requires (a user for Authentication and Account Change, a named PATH item for File System Activity, a
    /// pid for Process Activity, an inet, inet6 or unix address for Network Activity); otherwise it is a Base
    /// Event (class 0) and nothing about it is guessed.
    /// </summary>
    public static OcsfActivity Of(Event e)
    {
        if (e.Syscall.Length > 0)
        {
            return OfSyscall(e) ?? Base(e);
        }
        if (OcsfRecords.MainUserRecord(e) is Record main)
        {
            return OfUserMessage(e, main) ?? Base(e);
        }
        return Base(e);
    }

    private static OcsfActivity Base(Event e) =>
        // 99 Other: the audit event is known, OCSF has no activity for it; its type or syscall names it
        new(EventClass.Other, Other, e.Syscall.Length > 0 ? e.Syscall : e.FirstType.Length > 0 ? e.FirstType : "Other");

    private static OcsfActivity? OfSyscall(Event e)
    {
        string sc = e.Syscall;
        if (!e.HasPid)
        {
            // the system classes require an actor, and a syscall's actor is its process
            return null;
        }
        if (ProcessSyscalls.TryGetValue(sc, out (int Id, string Name) p))
        {
            return new OcsfActivity(EventClass.Process, p.Id, p.Name);
        }
        if (FileSyscalls.TryGetValue(sc, out (int Id, string Name) f))
        {
            return OfFile(e, f.Id, f.Name);
        }
        if (NetworkSyscalls.TryGetValue(sc, out (int Id, string Name) n)
            && e.Sockaddr is { Family: "inet" or "inet6" or "unix" })
        {
            if (sc == "connect" && e.HasSuccess && !e.Success)
            {
                // a connect that failed: refused by the peer, or another failure; a non-blocking connect in progress is still an open
                return e.ExitName switch
                {
                    "ECONNREFUSED" => new OcsfActivity(EventClass.Network, 5, "Refuse"),
                    "EINPROGRESS" => new OcsfActivity(EventClass.Network, n.Id, n.Name),
                    _ => new OcsfActivity(EventClass.Network, 4, "Fail"),
                };
            }
            return new OcsfActivity(EventClass.Network, n.Id, n.Name);
        }
        return null;
    }

    private static OcsfActivity? OfFile(Event e, int id, string name)
    {
        List<PathItem> items = OcsfRecords.Paths(e);
        PathItem? Typed(string nameType, bool last = false)
        {
            var matching = items.Where(i => i.NameType == nameType);
            return last ? matching.LastOrDefault() : matching.FirstOrDefault();
        }
        // the object of the call: never a PARENT item (the directory the kernel looked the name up in)
        PathItem? target = items.FirstOrDefault(i => i.NameType != "PARENT");
        switch (id)
        {
            case 14 when Typed("CREATE") is PathItem created:
                // open with O_CREAT that made the file
                return new OcsfActivity(EventClass.FileSystem, 1, "Create", created);
            case 1:
                target = Typed("CREATE", last: true) ?? target;
                break;
            case 4:
                target = Typed("DELETE") ?? target;
                break;
            case 5:
                // the first DELETE item is the old name (a replaced target is a second one); the CREATE item the new
                return Typed("DELETE") is PathItem from
                    ? new OcsfActivity(EventClass.FileSystem, 5, "Rename", from, e.HasSuccess && e.Success ? Typed("CREATE", last: true) : null)
                    : null;
        }
        return target is null ? null : new OcsfActivity(EventClass.FileSystem, id, name, target);
    }

    private static OcsfActivity? OfUserMessage(Event e, Record main)
    {
        string type = e.FirstType;
        if (AuthenticationTypes.TryGetValue(type, out (int Id, string Name) a))
        {
            var m = UserMessage.Read(main);
            return m.HasUser ? new OcsfActivity(EventClass.Authentication, a.Id, a.Name, Message: m) : null;
        }
        if (AccountTypes.TryGetValue(type, out (int Id, string Name) c))
        {
            var m = UserMessage.Read(main);
            if (!m.HasUser)
            {
                return null;
            }
            if (type == "USER_CHAUTHTOK" && !IsPasswordChange(m.Op))
            {
                // shadow-utils reports every usermod change as USER_CHAUTHTOK (op=changing comment, ...): an account change, not a password's
                return new OcsfActivity(EventClass.AccountChange, Other, type, Message: m);
            }
            // 99: OCSF names no such activity; activity_name then holds the audit type, as OCSF asks for Other
            return new OcsfActivity(EventClass.AccountChange, c.Id, c.Id == Other ? type : c.Name, Message: m);
        }
        return null;
    }

    private static bool IsPasswordChange(byte[]? op) =>
        op is not null && (op.AsSpan().StartsWith("PAM:chauthtok"u8) || op.AsSpan().IndexOf("password"u8) >= 0);

    private static readonly FrozenDictionary<string, (int, string)> ProcessSyscalls = new Dictionary<string, (int, string)>
    {
        ["execve"] = (1, "Launch"),
        ["execveat"] = (1, "Launch"),
        // OCSF's Set User ID is defined by the setuid() family
        ["setuid"] = (5, "Set User ID"),
        ["setreuid"] = (5, "Set User ID"),
        ["setresuid"] = (5, "Set User ID"),
        ["setfsuid"] = (5, "Set User ID"),
    }.ToFrozenDictionary(StringComparer.Ordinal);

    private static readonly FrozenDictionary<string, (int, string)> FileSyscalls = new Dictionary<string, (int, string)>
    {
        // open: a handle; Create when the call made the file (a CREATE item). Whether it then reads or writes is not recorded.
        ["open"] = (14, "Open"),
        ["openat"] = (14, "Open"),
        ["openat2"] = (14, "Open"),
        ["open_by_handle_at"] = (14, "Open"),
        ["creat"] = (14, "Open"),
        ["mkdir"] = (1, "Create"),
        ["mkdirat"] = (1, "Create"),
        ["mknod"] = (1, "Create"),
        ["mknodat"] = (1, "Create"),
        ["link"] = (1, "Create"),
        ["linkat"] = (1, "Create"),
        ["symlink"] = (1, "Create"),
        ["symlinkat"] = (1, "Create"),
        ["truncate"] = (3, "Update"),
        ["ftruncate"] = (3, "Update"),
        ["unlink"] = (4, "Delete"),
        ["unlinkat"] = (4, "Delete"),
        ["rmdir"] = (4, "Delete"),
        ["rename"] = (5, "Rename"),
        ["renameat"] = (5, "Rename"),
        ["renameat2"] = (5, "Rename"),
        ["setxattr"] = (6, "Set Attributes"),
        ["lsetxattr"] = (6, "Set Attributes"),
        ["fsetxattr"] = (6, "Set Attributes"),
        ["removexattr"] = (6, "Set Attributes"),
        ["lremovexattr"] = (6, "Set Attributes"),
        ["fremovexattr"] = (6, "Set Attributes"),
        ["utime"] = (6, "Set Attributes"),
        ["utimes"] = (6, "Set Attributes"),
        ["utimensat"] = (6, "Set Attributes"),
        ["futimesat"] = (6, "Set Attributes"),
        // mode bits and owner are a Unix file's access control: its security, in OCSF's words
        ["chmod"] = (7, "Set Security"),
        ["fchmod"] = (7, "Set Security"),
        ["fchmodat"] = (7, "Set Security"),
        ["fchmodat2"] = (7, "Set Security"),
        ["chown"] = (7, "Set Security"),
        ["fchown"] = (7, "Set Security"),
        ["lchown"] = (7, "Set Security"),
        ["fchownat"] = (7, "Set Security"),
        ["getxattr"] = (8, "Get Attributes"),
        ["lgetxattr"] = (8, "Get Attributes"),
        ["fgetxattr"] = (8, "Get Attributes"),
        ["listxattr"] = (8, "Get Attributes"),
        ["llistxattr"] = (8, "Get Attributes"),
        ["flistxattr"] = (8, "Get Attributes"),
        ["stat"] = (8, "Get Attributes"),
        ["lstat"] = (8, "Get Attributes"),
        ["newfstatat"] = (8, "Get Attributes"),
        ["statx"] = (8, "Get Attributes"),
        ["access"] = (9, "Get Security"),
        ["faccessat"] = (9, "Get Security"),
        ["faccessat2"] = (9, "Get Security"),
        ["mount"] = (12, "Mount"),
        ["umount"] = (13, "Unmount"),
        ["umount2"] = (13, "Unmount"),
    }.ToFrozenDictionary(StringComparer.Ordinal);

    private static readonly FrozenDictionary<string, (int, string)> NetworkSyscalls = new Dictionary<string, (int, string)>
    {
        ["connect"] = (1, "Open"),
        ["accept"] = (1, "Open"),
        ["accept4"] = (1, "Open"),
        // one datagram or message to or from an address: traffic, not a connection
        ["sendto"] = (6, "Traffic"),
        ["sendmsg"] = (6, "Traffic"),
        ["recvfrom"] = (6, "Traffic"),
        ["recvmsg"] = (6, "Traffic"),
        // naming a socket is not listening (listen() carries no address): OCSF has no activity for it
        ["bind"] = (Other, "Bind"),
    }.ToFrozenDictionary(StringComparer.Ordinal);

    private static readonly FrozenDictionary<string, (int, string)> AuthenticationTypes = new Dictionary<string, (int, string)>
    {
        // PAM authentication, and the login programs' own records: each asks for a logon session
        ["USER_AUTH"] = (1, "Logon"),
        ["USER_LOGIN"] = (1, "Logon"),
        ["USER_ERR"] = (1, "Logon"),
        ["USER_START"] = (1, "Logon"),
        ["USER_LOGOUT"] = (2, "Logoff"),
        ["USER_END"] = (2, "Logoff"),
    }.ToFrozenDictionary(StringComparer.Ordinal);

    private static readonly FrozenDictionary<string, (int, string)> AccountTypes = new Dictionary<string, (int, string)>
    {
        ["ADD_USER"] = (1, "Create"),
        ["DEL_USER"] = (6, "Delete"),
        ["USER_CHAUTHTOK"] = (3, "Password Change"),
        ["USER_MGMT"] = (Other, "Other"),
        ["ACCT_LOCK"] = (9, "Lock"),
        ["ACCT_UNLOCK"] = (12, "Unlock"),
    }.ToFrozenDictionary(StringComparer.Ordinal);
}
