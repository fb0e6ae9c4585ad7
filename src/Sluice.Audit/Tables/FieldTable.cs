using System.Collections.Frozen;

namespace Sluice.Audit.Tables;

/// <summary>auditctl's <c>-F</c> field names and the kernel's AUDIT_* field numbers (linux/audit.h).</summary>
internal static class FieldTable
{
    public const uint Pid = 0, Uid = 1, Euid = 2, Suid = 3, Fsuid = 4, Gid = 5, Egid = 6, Sgid = 7, Fsgid = 8;
    public const uint LoginUid = 9, Pers = 10, Arch = 11, MsgType = 12;
    public const uint SubjUser = 13, SubjRole = 14, SubjType = 15, SubjSen = 16, SubjClr = 17, Ppid = 18;
    public const uint ObjUser = 19, ObjRole = 20, ObjType = 21, ObjLevLow = 22, ObjLevHigh = 23;
    public const uint LoginUidSet = 24, SessionId = 25, FsType = 26;
    public const uint DevMajor = 100, DevMinor = 101, Inode = 102, Exit = 103, Success = 104;
    public const uint Watch = 105, Perm = 106, Dir = 107, FileType = 108, ObjUid = 109, ObjGid = 110;
    public const uint FieldCompare = 111, Exe = 112, SaddrFam = 113;
    public const uint Arg0 = 200, Arg1 = 201, Arg2 = 202, Arg3 = 203;
    public const uint FilterKey = 210;

    // Order matters for Name(): the first name of a number is the one auditctl -l prints.
    private static readonly (string Name, uint Field)[] s_fields =
    [
        ("pid", Pid), ("uid", Uid), ("euid", Euid), ("suid", Suid), ("fsuid", Fsuid),
        ("gid", Gid), ("egid", Egid), ("sgid", Sgid), ("fsgid", Fsgid),
        ("auid", LoginUid), ("loginuid", LoginUid), ("pers", Pers), ("arch", Arch), ("msgtype", MsgType),
        ("subj_user", SubjUser), ("subj_role", SubjRole), ("subj_type", SubjType), ("subj_sen", SubjSen),
        ("subj_clr", SubjClr), ("ppid", Ppid),
        ("obj_user", ObjUser), ("obj_role", ObjRole), ("obj_type", ObjType), ("obj_lev_low", ObjLevLow),
        ("obj_lev_high", ObjLevHigh), ("sessionid", SessionId), ("fstype", FsType),
        ("devmajor", DevMajor), ("devminor", DevMinor), ("inode", Inode), ("exit", Exit), ("success", Success),
        ("path", Watch), ("perm", Perm), ("dir", Dir), ("filetype", FileType), ("obj_uid", ObjUid), ("obj_gid", ObjGid),
        ("field_compare", FieldCompare), ("exe", Exe), ("saddr_fam", SaddrFam),
        ("a0", Arg0), ("a1", Arg1), ("a2", Arg2), ("a3", Arg3), ("key", FilterKey),
        ("loginuid_set", LoginUidSet),
    ];

    private static readonly FrozenDictionary<string, uint> s_byName =
        s_fields.DistinctBy(f => f.Name).ToFrozenDictionary(f => f.Name, f => f.Field, StringComparer.Ordinal);

    private static readonly FrozenDictionary<uint, string> s_byNumber =
        s_fields.DistinctBy(f => f.Field).ToFrozenDictionary(f => f.Field, f => f.Name);

    /// <summary>The field number of an auditctl field name ("auid" and "loginuid" are both 9).</summary>
    public static bool TryGetNumber(string name, out uint field) => s_byName.TryGetValue(name, out field);

    /// <summary>The name auditctl prints for a field number, or null.</summary>
    public static string? Name(uint field) => s_byNumber.TryGetValue(field, out var name) ? name : null;
}
