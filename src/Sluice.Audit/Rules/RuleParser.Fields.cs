using System.Globalization;
using System.Text;
using Sluice.Audit.Tables;
using static Sluice.Audit.Interop.Interop;

namespace Sluice.Audit.Rules;

// The fields of a rule: -F name op value and -C left op right, read and checked as auditctl and the kernel
// check them. They depend on the line only through the rule's list (and, for arch, whether -S came first);
// what a field does to the rest of the rule (its arch, whether a key is allowed) is the line's business.
public static partial class RuleParser
{
    // AF_MAX of linux/socket.h: the kernel refuses saddr_fam at or above it.
    private const uint AfMax = 46;

    private static readonly (string Symbol, uint Op)[] s_operators =
    [
        // auditctl looks for the two-character operators first (libaudit audit_rule_fieldpair_data).
        ("!=", AuditOps.NotEqual), (">=", AuditOps.GreaterThanOrEqual), ("<=", AuditOps.LessThanOrEqual),
        ("&=", AuditOps.BitTest), ("=", AuditOps.Equal), (">", AuditOps.GreaterThan), ("<", AuditOps.LessThan),
        ("&", AuditOps.BitMask),
    ];

    private static readonly Dictionary<string, uint> s_fileTypes = new(StringComparer.Ordinal)
    {
        // S_IF* of sys/stat.h, by the names auditctl takes.
        ["socket"] = 0xC000, ["link"] = 0xA000, ["file"] = 0x8000, ["block"] = 0x6000,
        ["dir"] = 0x4000, ["character"] = 0x2000, ["fifo"] = 0x1000,
    };

    // The file systems auditctl names for -F fstype (their superblock magic numbers).
    internal static readonly Dictionary<string, uint> FsTypes = new(StringComparer.Ordinal)
    {
        ["debugfs"] = 0x64626720,
        ["tracefs"] = 0x74726163,
    };

    private static readonly string[] s_compareUids = ["uid", "euid", "suid", "fsuid", "auid", "obj_uid"];
    private static readonly string[] s_compareGids = ["gid", "egid", "sgid", "fsgid", "obj_gid"];

    // AUDIT_COMPARE_* of linux/audit.h: the pairs the kernel can compare, either way round.
    internal static readonly (string Left, string Right, uint Value)[] Comparisons =
    [
        ("uid", "obj_uid", 1), ("gid", "obj_gid", 2), ("euid", "obj_uid", 3), ("egid", "obj_gid", 4),
        ("auid", "obj_uid", 5), ("suid", "obj_uid", 6), ("sgid", "obj_gid", 7), ("fsuid", "obj_uid", 8),
        ("fsgid", "obj_gid", 9), ("uid", "auid", 10), ("uid", "euid", 11), ("uid", "fsuid", 12),
        ("uid", "suid", 13), ("auid", "fsuid", 14), ("auid", "suid", 15), ("auid", "euid", 16),
        ("euid", "suid", 17), ("euid", "fsuid", 18), ("suid", "fsuid", 19), ("gid", "egid", 20),
        ("gid", "fsgid", 21), ("gid", "sgid", 22), ("egid", "fsgid", 23), ("egid", "sgid", 24),
        ("sgid", "fsgid", 25),
    ];

    internal static (string Name, uint Op, string Value)? SplitOperator(string pair)
    {
        foreach (var (symbol, op) in s_operators)
        {
            int at = pair.IndexOf(symbol, StringComparison.Ordinal);
            if (at >= 0)
            {
                return (pair[..at], op, pair[(at + symbol.Length)..]);
            }
        }
        return null;
    }

    /// <summary>Parses a number as C's strtol/strtoul with base 0 do: decimal, 0x hex, 0 octal, optional sign.</summary>
    internal static bool TryParseCNumber(string s, out long value)
    {
        value = 0;
        bool negative = false;
        int i = 0;
        if (s.Length > 0 && (s[0] == '-' || s[0] == '+'))
        {
            negative = s[0] == '-';
            i = 1;
        }
        if (i >= s.Length)
        {
            return false;
        }
        string digits = s[i..];
        bool ok;
        ulong magnitude = 0;
        if (digits.StartsWith("0x", StringComparison.OrdinalIgnoreCase) && digits.Length > 2)
        {
            ok = ulong.TryParse(digits.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out magnitude);
        }
        else if (digits.Length > 1 && digits[0] == '0')
        {
            magnitude = 0;
            ok = true;
            foreach (char c in digits.AsSpan(1))
            {
                if (c is < '0' or > '7' || magnitude > (ulong.MaxValue >> 3))
                {
                    ok = false;
                    break;
                }
                magnitude = magnitude * 8 + (ulong)(c - '0');
            }
        }
        else
        {
            ok = digits.All(char.IsAsciiDigit) && ulong.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out magnitude);
        }
        if (!ok || magnitude > (ulong)long.MaxValue)
        {
            return false;
        }
        value = negative ? -(long)magnitude : (long)magnitude;
        return true;
    }

    /// <summary>One field of a rule as the kernel takes it: field number, operator, value, and the text of a string field.</summary>
    /// <param name="Token">The argument it came from, named in errors about it.</param>
    private sealed record FieldValue(uint Field, uint Op, uint Value, byte[]? Text, string Token);

    /// <summary>
    /// Reads "-F name op value" up to the field's number: its syntax, the field's name, and whether the
    /// rule's <paramref name="list"/> takes it at all. The value is left to <see cref="ParseField"/>.
    /// </summary>
    private static (string Name, uint Field, uint Op, string Value) SplitField(string pair, uint list)
    {
        if (SplitOperator(pair) is not var (name, op, value))
        {
            throw new RuleSyntaxException(pair, "-F needs field, operator and value (for example auid>=1000)");
        }
        if (name.Length == 0)
        {
            throw new RuleSyntaxException(pair, "missing field name before the operator");
        }
        if (value.Length == 0 && name != "key")
        {
            throw new RuleSyntaxException(pair, $"missing value after the operator for {name}");
        }
        if (name is "field_compare" or "loginuid_set" || !FieldTable.TryGetNumber(name, out uint field))
        {
            throw new RuleSyntaxException(pair, $"unknown field '{name}'");
        }
        if (list == AUDIT_FILTER_EXCLUDE && field is not (FieldTable.Pid or FieldTable.Uid or FieldTable.Gid
            or FieldTable.LoginUid or FieldTable.MsgType or FieldTable.Exe
            or (>= FieldTable.SubjUser and <= FieldTable.SubjClr)))
        {
            throw new RuleSyntaxException(pair, "only msgtype, pid, uid, gid, auid, subj_* and exe can be used on the exclude list");
        }
        return (name, field, op, value);
    }

    /// <summary>
    /// The value of one field (any but the key, which labels the rule), checked as auditctl and the kernel check it:
    /// the operators the field takes, the lists it may be used on, and the value in the field's own syntax.
    /// </summary>
    /// <param name="pair">The -F argument, named in errors.</param>
    /// <param name="list">The rule's list.</param>
    /// <param name="syscallAdded">Whether -S came before: arch must not follow it.</param>
    private static FieldValue ParseField(string pair, string name, uint field, uint op, string value, uint list, bool syscallAdded, RuleParserOptions options)
    {
        CheckOperator(pair, name, field, op);
        uint v;
        byte[]? text = null;
        switch (field)
        {
            case FieldTable.Uid or FieldTable.Euid or FieldTable.Suid or FieldTable.Fsuid or FieldTable.LoginUid or FieldTable.ObjUid:
                v = value == "unset" ? uint.MaxValue
                    : IsNumberStart(value) ? Number(pair, name, value)
                    : options.ResolveUser(value) ?? throw new RuleSyntaxException(pair, $"unknown user '{value}'");
                if (v == uint.MaxValue && field != FieldTable.LoginUid)
                {
                    throw new RuleSyntaxException(pair, $"{name} cannot be -1 (unset); only auid can (the kernel refuses an invalid uid)");
                }
                if (v == uint.MaxValue && op is not (AuditOps.Equal or AuditOps.NotEqual))
                {
                    throw new RuleSyntaxException(pair, "auid unset (-1) can only be tested with = or != (the kernel refuses other operators)");
                }
                break;
            case FieldTable.Gid or FieldTable.Egid or FieldTable.Sgid or FieldTable.Fsgid or FieldTable.ObjGid:
                v = char.IsAsciiDigit(value[0]) ? Number(pair, name, value)
                    : options.ResolveGroup(value) ?? throw new RuleSyntaxException(pair, $"unknown group '{value}'");
                if (v == uint.MaxValue)
                {
                    throw new RuleSyntaxException(pair, $"{name} cannot be -1 (the kernel refuses an invalid gid)");
                }
                break;
            case FieldTable.Exit:
                RequireExitList(pair, name, list);
                if (IsNumberStart(value))
                {
                    v = Number(pair, name, value);
                }
                else
                {
                    bool negative = value.StartsWith('-');
                    if (!ErrnoTable.TryGetNumber(negative ? value[1..] : value, out int errno))
                    {
                        throw new RuleSyntaxException(pair, $"unknown errno name '{value}'");
                    }
                    v = (uint)(negative ? -errno : errno);
                }
                break;
            case FieldTable.MsgType:
                if (list is not (AUDIT_FILTER_EXCLUDE or AUDIT_FILTER_USER))
                {
                    throw new RuleSyntaxException(pair, "msgtype can only be used on the exclude and user lists");
                }
                v = char.IsAsciiDigit(value[0]) ? Number(pair, name, value)
                    : AuditMessageTypeTable.TryGetType(value, out AuditMessageType type) ? (uint)type
                    : throw new RuleSyntaxException(pair, $"unknown message type '{value}'");
                break;
            case FieldTable.Watch or FieldTable.Dir or (>= FieldTable.ObjUser and <= FieldTable.ObjLevHigh):
                RequireExitList(pair, name, list);
                if (field is FieldTable.Watch or FieldTable.Dir)
                {
                    if (!value.StartsWith('/'))
                    {
                        throw new RuleSyntaxException(pair, $"{name} must be an absolute path (the kernel refuses others)");
                    }
                    if (field == FieldTable.Watch && value.EndsWith('/'))
                    {
                        throw new RuleSyntaxException(pair, "path must not end with '/' (the kernel refuses it); use dir= for a directory tree");
                    }
                }
                text = Text(pair, value);
                v = (uint)text.Length;
                break;
            case FieldTable.Exe or (>= FieldTable.SubjUser and <= FieldTable.SubjClr):
                text = Text(pair, value);
                v = (uint)text.Length;
                break;
            case FieldTable.Arch:
                if (syscallAdded)
                {
                    throw new RuleSyntaxException(pair, "arch must be given before -S (the syscall numbers depend on it)");
                }
                if (char.IsAsciiDigit(value[0]))
                {
                    v = Number(pair, name, value);
                    if (AuditArch.Name(v) is null)
                    {
                        throw new RuleSyntaxException(pair, $"unknown arch value 0x{v:X}");
                    }
                }
                else if (!AuditArch.TryParse(value, options.MachineArch, out v))
                {
                    throw new RuleSyntaxException(pair, $"unknown arch '{value}' for machine {AuditArch.Name(options.MachineArch)}");
                }
                break;
            case FieldTable.Perm:
                RequireExitList(pair, name, list);
                v = ParsePerms(value, pair, list);
                break;
            case FieldTable.FileType:
                RequireExitList(pair, name, list);
                v = s_fileTypes.TryGetValue(value, out uint ft) ? ft
                    : throw new RuleSyntaxException(pair, $"unknown file type '{value}' (file, dir, socket, link, character, block, fifo)");
                break;
            case FieldTable.Arg0 or FieldTable.Arg1 or FieldTable.Arg2 or FieldTable.Arg3:
                v = IsNumberStart(value) ? Number(pair, name, value)
                    : throw new RuleSyntaxException(pair, $"{name} must be a number");
                break;
            case FieldTable.FsType:
                if (list != AUDIT_FILTER_FS)
                {
                    throw new RuleSyntaxException(pair, "fstype can only be used on the filesystem list");
                }
                v = FsTypes.TryGetValue(value, out uint magic) ? magic
                    : throw new RuleSyntaxException(pair, $"unknown file system type '{value}' (debugfs, tracefs)");
                break;
            case FieldTable.SessionId:
                if (list == AUDIT_FILTER_TASK)
                {
                    throw new RuleSyntaxException(pair, "sessionid can only be used on the exit, user and exclude lists");
                }
                v = value == "unset" ? uint.MaxValue : UnsignedNumber(pair, name, value);
                break;
            case FieldTable.SaddrFam:
                v = UnsignedNumber(pair, name, value);
                if (v >= AfMax)
                {
                    throw new RuleSyntaxException(pair, $"saddr_fam must be below {AfMax} (AF_MAX)");
                }
                break;
            case FieldTable.Inode or FieldTable.Ppid or FieldTable.Success or FieldTable.DevMajor or FieldTable.DevMinor:
                RequireExitList(pair, name, list);
                v = UnsignedNumber(pair, name, value);
                break;
            default: // pid, pers
                v = UnsignedNumber(pair, name, value);
                break;
        }
        return new FieldValue(field, op, v, text, pair);
    }

    // Operators the kernel accepts per field (kernel/auditfilter.c audit_field_valid).
    private static void CheckOperator(string pair, string name, uint field, uint op)
    {
        bool bitOp = op is AuditOps.BitMask or AuditOps.BitTest;
        switch (field)
        {
            case FieldTable.Arg0 or FieldTable.Arg1 or FieldTable.Arg2 or FieldTable.Arg3 or FieldTable.Pers or FieldTable.DevMinor:
                return;
            case FieldTable.SubjUser or FieldTable.SubjRole or FieldTable.SubjType or FieldTable.ObjUser or FieldTable.ObjRole
                or FieldTable.ObjType or FieldTable.Watch or FieldTable.Dir or FieldTable.Arch or FieldTable.FsType
                or FieldTable.Perm or FieldTable.FileType or FieldTable.Exe or FieldTable.Inode:
                if (op is not (AuditOps.Equal or AuditOps.NotEqual))
                {
                    throw new RuleSyntaxException(pair, $"{name} only takes the = and != operators");
                }
                if (op != AuditOps.Equal && field is FieldTable.Watch or FieldTable.Dir or FieldTable.Perm)
                {
                    throw new RuleSyntaxException(pair, $"{name} only takes the = operator");
                }
                return;
            default:
                if (bitOp)
                {
                    throw new RuleSyntaxException(pair, $"{name} does not take the bit operators & and &= (only a0-a3, pers and devminor do)");
                }
                return;
        }
    }

    private static void RequireExitList(string pair, string name, uint list)
    {
        if (list is not (AUDIT_FILTER_EXIT or AUDIT_FILTER_URING_EXIT))
        {
            throw new RuleSyntaxException(pair, $"{name} can only be used on the exit list");
        }
    }

    /// <summary>Permissions as -p and -F perm= give them: some of r, w, x, a.</summary>
    private static uint ParsePerms(string perms, string token, uint list)
    {
        if (list == AUDIT_FILTER_URING_EXIT)
        {
            throw new RuleSyntaxException(token, "perm cannot be used on the io_uring list (the kernel refuses it)");
        }
        if (perms.Length > 4)
        {
            throw new RuleSyntaxException(token, "permissions are some of r, w, x, a");
        }
        uint value = 0;
        foreach (char c in perms)
        {
            value |= char.ToLowerInvariant(c) switch
            {
                'r' => 4u,
                'w' => 2u,
                'x' => 1u,
                'a' => 8u,
                _ => throw new RuleSyntaxException(token, $"permission '{c}' is not one of r, w, x, a"),
            };
        }
        return value;
    }

    private static bool IsNumberStart(string value) =>
        char.IsAsciiDigit(value[0]) || (value.Length >= 2 && value[0] == '-' && char.IsAsciiDigit(value[1]));

    // A 32-bit value, as signed or unsigned: strtol/strtoul results that do not fit are refused
    // rather than truncated as auditctl does.
    private static uint Number(string pair, string name, string value)
    {
        if (!TryParseCNumber(value, out long n))
        {
            throw new RuleSyntaxException(pair, $"{name} must be a number");
        }
        if (n < int.MinValue || n > uint.MaxValue)
        {
            throw new RuleSyntaxException(pair, $"{name} value {value} does not fit in 32 bits");
        }
        return unchecked((uint)n);
    }

    private static uint UnsignedNumber(string pair, string name, string value)
    {
        if (!char.IsAsciiDigit(value[0]))
        {
            throw new RuleSyntaxException(pair, $"{name} must be a non-negative number");
        }
        return Number(pair, name, value);
    }

    private static byte[] Text(string pair, string value)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(value);
        if (bytes.Length > 4096)
        {
            throw new RuleSyntaxException(pair, "value is longer than 4096 bytes (PATH_MAX)");
        }
        return bytes;
    }

    /// <summary>"-C left op right": the field_compare field comparing two ids (only the exit list; = or !=).</summary>
    private static FieldValue ParseComparison(string expr, uint list)
    {
        if (SplitOperator(expr) is not var (left, op, right) || left.Length == 0 || right.Length == 0)
        {
            throw new RuleSyntaxException(expr, "-C needs field, operator and field (for example auid!=uid)");
        }
        if (op is not (AuditOps.Equal or AuditOps.NotEqual))
        {
            throw new RuleSyntaxException(expr, "-C only takes the = and != operators");
        }
        if (list != AUDIT_FILTER_EXIT)
        {
            throw new RuleSyntaxException(expr, "-C can only be used on the exit list");
        }
        string l = left == "loginuid" ? "auid" : left;
        string r = right == "loginuid" ? "auid" : right;
        foreach (var name in new[] { l, r })
        {
            if (!s_compareUids.Contains(name) && !s_compareGids.Contains(name))
            {
                throw new RuleSyntaxException(expr, $"-C cannot compare '{name}': only uid, euid, suid, fsuid, auid, obj_uid and the gids");
            }
        }
        foreach (var (a, b, value) in Comparisons)
        {
            if ((a == l && b == r) || (a == r && b == l))
            {
                return new FieldValue(FieldTable.FieldCompare, op, value, null, expr);
            }
        }
        throw new RuleSyntaxException(expr, $"the kernel cannot compare {l} with {r}");
    }
}

/// <summary>The kernel's rule operators (linux/audit.h AUDIT_*), stored in fieldflags.</summary>
internal static class AuditOps
{
    public const uint BitMask = 0x08000000;
    public const uint LessThan = 0x10000000;
    public const uint GreaterThan = 0x20000000;
    public const uint NotEqual = 0x30000000;
    public const uint Equal = 0x40000000;
    public const uint BitTest = BitMask | Equal;
    public const uint LessThanOrEqual = LessThan | Equal;
    public const uint GreaterThanOrEqual = GreaterThan | Equal;

    /// <summary>The symbol auditctl prints for an operator.</summary>
    public static string Symbol(uint op) => op switch
    {
        BitMask => "&",
        LessThan => "<",
        GreaterThan => ">",
        NotEqual => "!=",
        Equal => "=",
        BitTest => "&=",
        LessThanOrEqual => "<=",
        GreaterThanOrEqual => ">=",
        _ => "(unknown)",
    };
}
