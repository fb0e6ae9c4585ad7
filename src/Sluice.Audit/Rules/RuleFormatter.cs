using System.Text;
using Sluice.Audit.Tables;
using static Sluice.Audit.Interop.Interop;

namespace Sluice.Audit.Rules;

/// <summary>
/// Prints kernel rules exactly as <c>auditctl -l</c> (audit 3.0.x, auditctl-listing.c) does,
/// so its output can be compared with auditctl's own.
/// </summary>
public static class RuleFormatter
{
    /// <summary>Formats a list of rules, one per line; "No rules" when empty, as auditctl prints.</summary>
    public static string FormatList(IEnumerable<KernelRule> rules, uint machineArch = 0)
    {
        var sb = new StringBuilder();
        foreach (var rule in rules)
        {
            sb.Append(Format(rule, machineArch)).Append('\n');
        }
        return sb.Length == 0 ? "No rules\n" : sb.ToString();
    }

    /// <summary>Formats one rule as one line of <c>auditctl -l</c>.</summary>
    /// <param name="machineArch">The arch whose syscall names are used when the rule has no arch field; 0 means this machine's.</param>
    public static string Format(KernelRule rule, uint machineArch = 0)
    {
        if (machineArch == 0)
        {
            machineArch = AuditArch.Machine;
        }
        var sb = new StringBuilder();
        bool watch = IsWatch(rule);
        uint list = rule.List & ~0x10u;
        if (!watch)
        {
            sb.Append("-a ").Append(ActionName(rule.Action)).Append(',').Append(ListName(list));
            uint? arch = null;
            for (int i = 0; i < rule.FieldCount; i++)
            {
                if (rule.Field(i) == FieldTable.Arch)
                {
                    arch = rule.Value(i);
                    sb.Append(" -F arch").Append(AuditOps.Symbol(rule.Operator(i)));
                    sb.Append(AuditArch.Name(arch.Value) is null ? $"0x{arch.Value:X}"
                        : (arch.Value & AuditArch.Bit64) != 0 ? "b64" : "b32");
                }
            }
            AppendSyscalls(sb, rule, list, arch ?? machineArch);
        }

        int offset = 0;
        byte[] buffer = rule.Buffer.ToArray();
        for (int i = 0; i < rule.FieldCount; i++)
        {
            uint field = rule.Field(i);
            uint op = rule.Operator(i);
            uint value = rule.Value(i);
            string sym = AuditOps.Symbol(op);
            if (field == FieldTable.Arch)
            {
                continue;
            }
            string? name = FieldTable.Name(field);
            string Str()
            {
                int len = (int)Math.Min(value, (uint)Math.Max(0, buffer.Length - offset));
                string s = Encoding.UTF8.GetString(buffer, offset, len);
                offset += len;
                return s;
            }
            if (name is null || field is FieldTable.LoginUidSet)
            {
                sb.Append($" f{field}{sym}{(int)value}");
                continue;
            }
            switch (field)
            {
                case FieldTable.MsgType:
                    sb.Append($" -F {name}{sym}{AuditMessageTypeTable.Name(value) ?? ((int)value).ToString()}");
                    break;
                case (>= FieldTable.SubjUser and <= FieldTable.SubjClr) or (>= FieldTable.ObjUser and <= FieldTable.ObjLevHigh) or FieldTable.Exe:
                    sb.Append($" -F {name}{sym}{Str()}");
                    break;
                case FieldTable.Watch:
                    sb.Append(watch ? $"-w {Str()}" : $" -F path={Str()}");
                    break;
                case FieldTable.Dir:
                    // audit 3.0.x prints a tree watch like a path watch, without the trailing slash.
                    sb.Append(watch ? $"-w {Str()}" : $" -F dir={Str()}");
                    break;
                case FieldTable.FilterKey:
                    foreach (var key in Str().Split('\x01', StringSplitOptions.RemoveEmptyEntries))
                    {
                        sb.Append(watch ? $" -k {key}" : $" -F key={key}");
                    }
                    break;
                case FieldTable.Perm:
                    string perms = ((value & 4) != 0 ? "r" : "") + ((value & 2) != 0 ? "w" : "")
                        + ((value & 1) != 0 ? "x" : "") + ((value & 8) != 0 ? "a" : "");
                    sb.Append(watch ? $" -p {perms}" : $" -F perm={perms}");
                    break;
                case FieldTable.Inode:
                    sb.Append($" -F {name}{sym}{value}");
                    break;
                case FieldTable.FieldCompare:
                    var cmp = Array.Find(RuleParser.Comparisons, c => c.Value == value);
                    if (cmp.Left is not null)
                    {
                        sb.Append($" -C {cmp.Left}{sym}{cmp.Right}");
                    }
                    break;
                case >= FieldTable.Arg0 and <= FieldTable.Arg3:
                    sb.Append($" -F {name}{sym}0x{value:X}");
                    break;
                case FieldTable.Exit:
                    int exit = (int)value;
                    string? errno = exit < 0 ? ErrnoTable.Name(-exit) : null;
                    sb.Append(errno is null ? $" -F {name}{sym}{exit}" : $" -F {name}{sym}-{errno}");
                    break;
                case FieldTable.FsType:
                    string? fs = RuleParser.FsTypes.FirstOrDefault(kv => kv.Value == value).Key;
                    sb.Append($" -F {name}{sym}{fs ?? ((int)value).ToString()}");
                    break;
                default:
                    sb.Append($" -F {name}{sym}{(int)value}");
                    break;
            }
        }
        return sb.ToString();
    }

    // A rule prints as -w when it has only path/dir, perm and key fields, a perm, and all
    // syscalls (auditctl-listing.c is_watch).
    private static bool IsWatch(KernelRule rule)
    {
        bool perm = false;
        for (int i = 0; i < rule.FieldCount; i++)
        {
            uint f = rule.Field(i);
            if (f == FieldTable.Perm)
            {
                perm = true;
            }
            if (f is not (FieldTable.Perm or FieldTable.FilterKey or FieldTable.Dir or FieldTable.Watch))
            {
                return false;
            }
        }
        uint list = rule.List & ~0x10u;
        bool all = true;
        if (list is not (AUDIT_FILTER_USER or AUDIT_FILTER_TASK or AUDIT_FILTER_EXCLUDE))
        {
            all = AllSyscalls(rule);
        }
        return perm && all;
    }

    private static bool AllSyscalls(KernelRule rule)
    {
        // The last word holds the syscall-class bits, which the kernel clears.
        for (int w = 0; w < AUDIT_BITMASK_SIZE - 1; w++)
        {
            if (rule.Mask(w) != uint.MaxValue)
            {
                return false;
            }
        }
        return true;
    }

    private static void AppendSyscalls(StringBuilder sb, KernelRule rule, uint list, uint arch)
    {
        if (list is AUDIT_FILTER_USER or AUDIT_FILTER_TASK or AUDIT_FILTER_EXCLUDE or AUDIT_FILTER_FS)
        {
            return;
        }
        if (AllSyscalls(rule))
        {
            sb.Append(" -S all");
            return;
        }
        bool first = true;
        for (int n = 0; n < AUDIT_BITMASK_SIZE * 32; n++)
        {
            if ((rule.Mask(n / 32) & (1u << (n % 32))) == 0)
            {
                continue;
            }
            sb.Append(first ? " -S " : ",");
            first = false;
            if (list != AUDIT_FILTER_URING_EXIT && SyscallTable.TryGetName(arch, n, out var name))
            {
                sb.Append(name);
            }
            else
            {
                sb.Append(n);
            }
        }
    }

    /// <summary>auditctl's name of a filter list.</summary>
    public static string ListName(uint list) => list switch
    {
        AUDIT_FILTER_USER => "user",
        AUDIT_FILTER_TASK => "task",
        AUDIT_FILTER_ENTRY => "entry",
        AUDIT_FILTER_WATCH => "watch",
        AUDIT_FILTER_EXIT => "exit",
        AUDIT_FILTER_EXCLUDE => "exclude",
        AUDIT_FILTER_FS => "filesystem",
        AUDIT_FILTER_URING_EXIT => "io_uring",
        _ => "(null)",
    };

    /// <summary>auditctl's name of a rule action.</summary>
    public static string ActionName(uint action) => action switch
    {
        AUDIT_NEVER => "never",
        AUDIT_POSSIBLE => "possible",
        AUDIT_ALWAYS => "always",
        _ => "(null)",
    };
}
