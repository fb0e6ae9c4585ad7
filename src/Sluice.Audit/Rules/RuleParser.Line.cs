using System.Text;
using Sluice.Audit.Tables;
using static Sluice.Audit.Interop.Interop;

namespace Sluice.Audit.Rules;

// A line: its options and their arguments as auditctl's getopt reads them, the control options, and the
// rule they build (list and action, syscalls, watch, keys), compiled to audit_rule_data at the end. The
// fields of -F and -C are read in RuleParser.Fields.cs.
public static partial class RuleParser
{
    /// <summary>Parses one line: either one rule (with its options) or control options.</summary>
    private sealed class LineParser(List<string> tokens, RuleParserOptions options, string file, int line)
    {
        private const int PathMax = 4096;
        private const uint AllPerms = 0xF;

        // Rule state, in the order auditctl builds it.
        private char _ruleOption;          // 'a', 'A', 'd', 'w', 'W' or 0
        private uint _list;
        private uint _action;
        private uint? _arch;
        private bool _syscallAdded;
        private bool _watchOrPathAdded;
        private bool _exeAdded;
        private readonly uint[] _mask = new uint[AUDIT_BITMASK_SIZE];
        private readonly List<FieldValue> _fields = [];
        private readonly List<(string Key, string Token, bool Deferred)> _keys = [];
        private bool _hasControls;
        private bool _deleteAll;
        private bool _warnedArch;

        public KernelRule? Rule { get; private set; }
        public RuleOperation Operation { get; private set; }
        public bool Prepend { get; private set; }
        public List<RuleControl> Controls { get; } = [];

        /// <summary>Accepted, as auditctl accepts them, but probably not what was meant.</summary>
        public List<(string Token, string Reason)> Warnings { get; } = [];

        private bool HasRule => _ruleOption != 0;
        private bool IsWatch => _ruleOption is 'w' or 'W';
        private uint NameArch => _arch ?? options.MachineArch;

        public void Run()
        {
            for (int i = 0; i < tokens.Count; i++)
            {
                string token = tokens[i];
                if (!token.StartsWith('-') || token == "-")
                {
                    throw new RuleSyntaxException(token, "unexpected argument: options start with '-'");
                }
                if (token.StartsWith("--", StringComparison.Ordinal))
                {
                    LongOption(token, ref i);
                    continue;
                }
                char option = token[1];
                // getopt allows the argument to follow the letter directly (-Farch=b64).
                string? Arg()
                {
                    if (token.Length > 2)
                    {
                        return token.Substring(2);
                    }
                    if (i + 1 < tokens.Count)
                    {
                        return tokens[++i];
                    }
                    throw new RuleSyntaxException(token, $"option -{option} needs an argument");
                }
                switch (option)
                {
                    case 'a' or 'A' or 'd':
                        StartRule(option, token, Arg()!);
                        break;
                    case 'w' or 'W':
                        StartWatch(option, Arg()!);
                        break;
                    case 'S':
                        Syscalls(Arg()!);
                        break;
                    case 'F':
                        Field(Arg()!);
                        break;
                    case 'C':
                        Compare(Arg()!);
                        break;
                    case 'p':
                        Perm(Arg()!);
                        break;
                    case 'k':
                        Key(Arg()!, deferred: false);
                        break;
                    case 'D' when token.Length == 2:
                        _hasControls = true;
                        _deleteAll = true;
                        break;
                    case 'b':
                        Control(RuleControlKind.BacklogLimit, token, Arg()!, uint.MaxValue);
                        break;
                    case 'f':
                        Control(RuleControlKind.FailureMode, token, Arg()!, 2);
                        break;
                    case 'e':
                        Control(RuleControlKind.Enabled, token, Arg()!, 2);
                        break;
                    case 'r':
                        Control(RuleControlKind.RateLimit, token, Arg()!, uint.MaxValue);
                        break;
                    case 'i' when token.Length == 2:
                        AddControl(RuleControlKind.IgnoreErrors, 1);
                        break;
                    case 'c' when token.Length == 2:
                        AddControl(RuleControlKind.ContinueOnError, 1);
                        break;
                    case 'l' or 's' or 'm' or 'R' or 'v' or 'h' or 'q' or 't':
                        throw new RuleSyntaxException(token, $"-{option} is a command, not allowed in a rules file");
                    default:
                        throw new RuleSyntaxException(token, "unknown option");
                }
            }
            Finish();
        }

        private void LongOption(string token, ref int i)
        {
            string name = token;
            string? value = null;
            int eq = token.IndexOf('=');
            if (eq > 0)
            {
                name = token[..eq];
                value = token[(eq + 1)..];
            }
            switch (name)
            {
                case "--backlog_wait_time":
                    if (value is null)
                    {
                        if (i + 1 >= tokens.Count)
                        {
                            throw new RuleSyntaxException(token, "--backlog_wait_time needs a value");
                        }
                        value = tokens[++i];
                    }
                    Control(RuleControlKind.BacklogWaitTime, token, value, uint.MaxValue);
                    break;
                case "--loginuid-immutable" when value is null:
                    AddControl(RuleControlKind.LoginUidImmutable, 1);
                    break;
                default:
                    throw new RuleSyntaxException(token, "unknown option");
            }
        }

        private void Control(RuleControlKind kind, string token, string value, uint max)
        {
            if (!TryParseCNumber(value, out long n) || n < 0 || n > max)
            {
                throw new RuleSyntaxException(value, max == uint.MaxValue
                    ? $"{token} needs a number from 0 to {uint.MaxValue}"
                    : $"{token} needs a number from 0 to {max}");
            }
            AddControl(kind, (uint)n);
        }

        private void AddControl(RuleControlKind kind, uint value)
        {
            _hasControls = true;
            Controls.Add(new RuleControl(kind, value, null, file, line));
        }

        private void StartRule(char option, string token, string listAction)
        {
            if (HasRule)
            {
                throw new RuleSyntaxException(token, "only one -a, -A, -d, -w or -W is allowed on a line");
            }
            var parts = listAction.Split(',');
            if (parts.Length != 2)
            {
                throw new RuleSyntaxException(listAction, "expected list,action (for example always,exit)");
            }
            uint? list = null, action = null;
            foreach (var part in parts)
            {
                if (ListNumber(part) is uint l && list is null)
                {
                    list = l;
                }
                else if (ActionNumber(part) is uint a && action is null)
                {
                    action = a;
                }
                else if (part is "entry")
                {
                    throw new RuleSyntaxException(listAction, "the entry list is deprecated and the kernel refuses it; use exit");
                }
                else if (part is "possible")
                {
                    throw new RuleSyntaxException(listAction, "the possible action is deprecated and the kernel refuses it; use always or never");
                }
                else
                {
                    throw new RuleSyntaxException(listAction,
                        "expected a list (exit, task, user, exclude, filesystem, io_uring) and an action (always, never)");
                }
            }
            _ruleOption = option;
            _list = list!.Value;
            _action = action!.Value;
            Operation = option == 'd' ? RuleOperation.Delete : RuleOperation.Add;
            Prepend = option == 'A';
        }

        internal static uint? ListNumber(string name) => name switch
        {
            "task" => AUDIT_FILTER_TASK,
            "exit" => AUDIT_FILTER_EXIT,
            "user" => AUDIT_FILTER_USER,
            "exclude" => AUDIT_FILTER_EXCLUDE,
            "filesystem" => AUDIT_FILTER_FS,
            "io_uring" => AUDIT_FILTER_URING_EXIT,
            _ => null,
        };

        internal static uint? ActionNumber(string name) => name switch
        {
            "never" => AUDIT_NEVER,
            "always" => AUDIT_ALWAYS,
            _ => null,
        };

        private void StartWatch(char option, string path)
        {
            if (HasRule)
            {
                throw new RuleSyntaxException("-" + option, _ruleOption is 'w' or 'W'
                    ? "only one -w or -W is allowed on a line"
                    : "a watch (-w) cannot be combined with -a, -A or -d on one line");
            }
            if (!path.StartsWith('/'))
            {
                throw new RuleSyntaxException(path, "a watch path must be absolute (start with '/')");
            }
            // auditctl drops trailing slashes; the kernel refuses a watch path ending in '/'.
            string trimmed = path.TrimEnd('/');
            if (trimmed.Length == 0)
            {
                throw new RuleSyntaxException(path, "cannot watch '/': the kernel refuses a watch path ending in '/'");
            }
            byte[] bytes = Encoding.UTF8.GetBytes(trimmed);
            if (bytes.Length > PathMax)
            {
                throw new RuleSyntaxException(path, $"a watch path is at most {PathMax} bytes");
            }
            _ruleOption = option;
            _list = AUDIT_FILTER_EXIT;
            _action = AUDIT_ALWAYS;
            Operation = option == 'W' ? RuleOperation.Delete : RuleOperation.Add;
            _watchOrPathAdded = true;
            // auditctl adds the path, as a dir (tree) watch when it is a directory on this host
            // at compile time, and a perm field (all permissions until -p says otherwise).
            uint kind = options.IsDirectory(trimmed) ? FieldTable.Dir : FieldTable.Watch;
            _fields.Add(new FieldValue(kind, AuditOps.Equal, (uint)bytes.Length, bytes, path));
            _fields.Add(new FieldValue(FieldTable.Perm, AuditOps.Equal, AllPerms, null, path));
        }

        private void RequireRule(string token, string what)
        {
            if (!HasRule)
            {
                throw new RuleSyntaxException(token, $"{what} needs -a, -A or -d (or -w) before it on the line");
            }
        }

        private void Syscalls(string arg)
        {
            RequireRule(arg, "-S");
            if (IsWatch)
            {
                // auditctl checks the names but a watch always covers every syscall.
                Warnings.Add((arg, "-S has no effect on a watch (-w), which covers every syscall; use -a always,exit -F path=... -S ... to limit it"));
            }
            else if (_list is not (AUDIT_FILTER_EXIT or AUDIT_FILTER_URING_EXIT))
            {
                throw new RuleSyntaxException(arg, $"syscalls (-S) can only be used on the exit and io_uring lists, not {ListName(_list)}");
            }
            foreach (var name in arg.Split(','))
            {
                if (name.Length == 0)
                {
                    continue; // auditctl skips empty items ("-S ,open")
                }
                if (name == "all")
                {
                    Array.Fill(_mask, uint.MaxValue);
                }
                else if (char.IsAsciiDigit(name[0]))
                {
                    // Numbers 2032 and above are the kernel's syscall-class selectors, not syscalls.
                    if (!int.TryParse(name, out int number) || number < 0 || number >= MaxSyscallNumber)
                    {
                        throw new RuleSyntaxException(name, $"syscall number must be from 0 to {MaxSyscallNumber - 1}");
                    }
                    SetSyscall(number);
                }
                else if (_list == AUDIT_FILTER_URING_EXIT)
                {
                    throw new RuleSyntaxException(name, "io_uring rules take io_uring operation numbers, not syscall names");
                }
                else if (!AuditArch.IsKnown(NameArch))
                {
                    throw new RuleSyntaxException(name, $"no syscall table for arch 0x{NameArch:X}: give syscall numbers");
                }
                else if (SyscallTable.TryGetNumber(NameArch, name, out int number))
                {
                    if (_arch is null && !_warnedArch)
                    {
                        _warnedArch = true;
                        Warnings.Add((name, $"no -F arch before -S: the numbers are those of {AuditArch.Name(NameArch)}, and 32-bit programs are not matched"));
                    }
                    SetSyscall(number);
                }
                else
                {
                    throw new RuleSyntaxException(name, $"unknown syscall for arch {AuditArch.Name(NameArch)}");
                }
            }
            _syscallAdded = true;
        }

        internal const int MaxSyscallNumber = AUDIT_BITMASK_SIZE * 32 - 16;

        private void SetSyscall(int number) => _mask[number / 32] |= 1u << (number % 32);

        /// <summary>-F name op value: a key joins the rule's keys; any other field is parsed (<see cref="ParseField"/>) and added.</summary>
        private void Field(string pair)
        {
            RequireRule(pair, "-F");
            var (name, field, op, value) = SplitField(pair, _list);
            if (field == FieldTable.FilterKey)
            {
                if (op != AuditOps.Equal)
                {
                    throw new RuleSyntaxException(pair, "key only takes the = operator");
                }
                Key(value, deferred: true);
                return;
            }
            var parsed = ParseField(pair, name, field, op, value, _list, _syscallAdded, options);
            switch (field)
            {
                case FieldTable.Arch:
                    _arch = parsed.Value;
                    break;
                case FieldTable.Watch or FieldTable.Dir or FieldTable.Perm:
                    _watchOrPathAdded = true; // a path, dir or perm makes a key acceptable, as in auditctl
                    break;
                case FieldTable.Exe:
                    _exeAdded = true;
                    break;
            }
            AddField(parsed);
        }

        /// <summary>-C left op right: a field comparison (<see cref="ParseComparison"/>).</summary>
        private void Compare(string expr)
        {
            RequireRule(expr, "-C");
            AddField(ParseComparison(expr, _list));
        }

        private void Perm(string perms)
        {
            if (!HasRule)
            {
                throw new RuleSyntaxException(perms, "-p needs a watch (-w) before it on the line");
            }
            if (!IsWatch && _fields.Count == 0)
            {
                throw new RuleSyntaxException(perms, "-p on an -a rule needs a field (-F) before it, as auditctl requires");
            }
            uint value = ParsePerms(perms, perms, _list);
            _watchOrPathAdded = true;
            if (IsWatch)
            {
                int i = _fields.FindIndex(f => f.Field == FieldTable.Perm);
                _fields[i] = _fields[i] with { Value = value };
            }
            else if (_fields.FindIndex(f => f.Field == FieldTable.Perm) is int existing and >= 0)
            {
                // auditctl's -p updates the rule's perm field when it has one.
                _fields[existing] = _fields[existing] with { Value = value };
            }
            else
            {
                AddField(new FieldValue(FieldTable.Perm, AuditOps.Equal, value, null, perms));
            }
        }

        private void Key(string key, bool deferred)
        {
            // auditctl checks -k where it stands (-F key= only at the end of the rule); -k on a
            // -D line selects the rules to delete.
            if (!deferred && !_deleteAll && HasRule && !KeyAllowed)
            {
                throw new RuleSyntaxException(key, "a key (-k) needs a syscall (-S), a watch (-w or -F path/dir) or -F exe before it");
            }
            if (HasRule && _list == AUDIT_FILTER_EXCLUDE)
            {
                throw new RuleSyntaxException(key, "keys cannot be used on the exclude list");
            }
            if (key.Length == 0)
            {
                return; // auditctl ignores an empty -F key=
            }
            _keys.Add((key, key, deferred));
            int total = _keys.Sum(k => Encoding.UTF8.GetByteCount(k.Key)) + _keys.Count - 1;
            if (total > AUDIT_MAX_KEY_LEN)
            {
                throw new RuleSyntaxException(key, $"the key is {total} bytes with the keys before it; at most {AUDIT_MAX_KEY_LEN}");
            }
        }

        // auditctl accepts a key on a filesystem rule once it has its fstype.
        private bool KeyAllowed => _syscallAdded || _watchOrPathAdded || _exeAdded
            || (HasRule && _list == AUDIT_FILTER_FS && _fields.Exists(f => f.Field == FieldTable.FsType));

        private void AddField(FieldValue field)
        {
            // auditctl stops one short of the kernel's 64 (libaudit audit_rule_fieldpair_data).
            if (_fields.Count >= AUDIT_MAX_FIELDS - 1)
            {
                throw new RuleSyntaxException(field.Token, $"too many fields: a rule holds at most {AUDIT_MAX_FIELDS - 1}");
            }
            _fields.Add(field);
        }

        private void Finish()
        {
            if (!HasRule)
            {
                if (_keys.Count > 0 && !_deleteAll)
                {
                    throw new RuleSyntaxException(_keys[0].Token, "a key (-k) needs a rule (-a, -A, -d, -w or -W) on the line");
                }
                if (_deleteAll)
                {
                    Controls.Insert(0, new RuleControl(RuleControlKind.DeleteAll, 0,
                        _keys.Count > 0 ? string.Join('\x01', _keys.Select(k => k.Key)) : null, file, line));
                }
                return;
            }
            if (_hasControls)
            {
                throw new RuleSyntaxException(tokens[0], "control options (-D, -b, -e, -f, -r, ...) cannot share a line with a rule");
            }
            if (IsWatch || (_list is AUDIT_FILTER_EXIT or AUDIT_FILTER_URING_EXIT or AUDIT_FILTER_USER or AUDIT_FILTER_EXCLUDE or AUDIT_FILTER_FS
                && !_syscallAdded))
            {
                // auditctl audits every syscall when none is named; task rules carry no syscalls.
                Array.Fill(_mask, uint.MaxValue);
            }
            // -F key= is checked once the rule is complete (auditctl adds the key last).
            if (_keys.Any(k => k.Deferred) && !KeyAllowed)
            {
                throw new RuleSyntaxException(_keys.First(k => k.Deferred).Token,
                    "a key needs a syscall (-S), a watch (-w or -F path/dir) or -F exe in the rule");
            }
            if (_keys.Count > 0)
            {
                byte[] key = Encoding.UTF8.GetBytes(string.Join('\x01', _keys.Select(k => k.Key)));
                AddField(new FieldValue(FieldTable.FilterKey, AuditOps.Equal, (uint)key.Length, key, _keys[0].Token));
            }
            CheckKernelRules();
            var buffer = new List<byte>();
            var fields = new (uint Field, uint Op, uint Value)[_fields.Count];
            for (int i = 0; i < _fields.Count; i++)
            {
                var f = _fields[i];
                fields[i] = (f.Field, f.Op, f.Value);
                if (f.Text is not null)
                {
                    buffer.AddRange(f.Text);
                }
            }
            Rule = KernelRule.Create(Prepend ? _list | 0x10 : _list, _action, _mask, fields, buffer.ToArray());
        }

        // Checks the kernel makes when it turns the data into a rule (kernel/auditfilter.c
        // audit_data_to_entry, audit_to_watch, audit_make_tree, audit_to_inode): refusing them
        // here names the line instead of a bare EINVAL at load time.
        private void CheckKernelRules()
        {
            FieldValue? watch = null;
            FieldValue? exe = null;
            foreach (var f in _fields)
            {
                if (f.Field is FieldTable.Watch or FieldTable.Dir || (f.Field == FieldTable.Inode))
                {
                    if (watch is not null)
                    {
                        throw new RuleSyntaxException(f.Token,
                            "a rule can have only one of path, dir and inode (the kernel refuses more)");
                    }
                    watch = f;
                }
                if (f.Field == FieldTable.Exe)
                {
                    if (exe is not null)
                    {
                        throw new RuleSyntaxException(f.Token, "a rule can have only one exe field (the kernel refuses more)");
                    }
                    exe = f;
                }
                if (_list == AUDIT_FILTER_FS && f.Field is not (FieldTable.FsType or FieldTable.FilterKey))
                {
                    throw new RuleSyntaxException(f.Token, "filesystem rules take only fstype and key fields (the kernel refuses others)");
                }
            }
        }

        private static string ListName(uint list) => list switch
        {
            AUDIT_FILTER_USER => "user",
            AUDIT_FILTER_TASK => "task",
            AUDIT_FILTER_EXIT => "exit",
            AUDIT_FILTER_EXCLUDE => "exclude",
            AUDIT_FILTER_FS => "filesystem",
            AUDIT_FILTER_URING_EXIT => "io_uring",
            _ => $"list {list}",
        };
    }
}
