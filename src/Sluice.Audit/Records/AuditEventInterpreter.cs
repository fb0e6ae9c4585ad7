using System.Buffers.Text;
using Sluice.Audit.Accounts;
using Sluice.Audit.Tables;

namespace Sluice.Audit.Records;

/// <summary>Interprets an event's records into an <see cref="AuditEventSummary"/>.</summary>
/// <remarks>
/// The SYSCALL record's fields win; other records (user-space messages, CONFIG_CHANGE) fill in
/// what is still unset. The records themselves are untouched.
/// Account names are optional: without an <see cref="AccountNameCache"/> nothing about them is read or
/// allocated. With one, the extra ids (suid, fsuid, sgid, fsgid, and each PATH's ouid and ogid) are read in
/// the same pass, and the names are the cache's strings.
/// </remarks>
public static class AuditEventInterpreter
{
    /// <summary>Interprets <paramref name="ev"/>; with <paramref name="names"/>, also names its uids and gids (<see cref="AuditEventSummary.Names"/>).</summary>
    public static AuditEventSummary Interpret(AuditEvent ev, AccountNameCache? names = null)
    {
        var summary = new AuditEventSummary();
        ExecveBuilder execve = default;
        Naming naming = default;
        if (names is not null)
        {
            naming.On = true;
            naming.Lookup = names.Current();
            for (int i = ev.IndexOf(AuditMessageType.Path); i >= 0; i = ev.IndexOf(AuditMessageType.Path, i + 1))
            {
                naming.PathCount++;
            }
        }
        for (int i = 0; i < ev.Count; i++)
        {
            AuditRecord record = ev[i];
            switch (record.Type)
            {
                case AuditMessageType.Syscall:
                    ReadProcessFields(record, summary, fromSyscall: true, ref naming);
                    break;
                case AuditMessageType.Execve:
                    execve.Read(record, summary);
                    break;
                case AuditMessageType.Cwd:
                    ReadCwd(record, summary);
                    break;
                case AuditMessageType.Path:
                    ReadPath(record, summary, ref naming);
                    break;
                case AuditMessageType.Proctitle:
                    ReadProctitle(record, summary);
                    break;
                case AuditMessageType.Sockaddr:
                    ReadSockaddr(record, summary);
                    break;
                case AuditMessageType.BprmFcaps or AuditMessageType.Capset or AuditMessageType.Mmap:
                    // capability and mmap details, nothing for the summary
                    break;
                default:
                    ReadProcessFields(record, summary, fromSyscall: false, ref naming);
                    break;
            }
        }
        execve.Finish(summary);
        if (summary.Arch is uint arch)
        {
            summary.ArchName = AuditArch.Name(arch) ?? "0x" + arch.ToString("x", System.Globalization.CultureInfo.InvariantCulture);
            if (summary.SyscallNumber is int number)
            {
                summary.Syscall = SyscallTable.TryGetName(arch, number, out string? name) && name is not null
                    ? name
                    : number.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
        }
        if (summary.Exit is long exit && exit < 0 && exit >= -4095)
        {
            summary.ExitName = ErrnoTable.Name((int)-exit);
        }
        if (naming.On)
        {
            NameIds(summary, ref naming);
        }
        return summary;
    }

    /// <summary>Name resolution state of one interpretation: the tables, and the ids the summary has no field for.</summary>
    private struct Naming
    {
        public bool On;
        public AccountNameLookup Lookup;
        public uint? Suid;
        public uint? Fsuid;
        public uint? Sgid;
        public uint? Fsgid;
        public int PathCount;
        // an event's ids are mostly the same few (uid = euid = suid = fsuid): the last answer is kept
        private uint _lastUid;
        private string? _lastUser;
        private uint _lastGid;
        private string? _lastGroup;

        // 4294967295 is (uid_t)-1: "unset" for auid, "no id" for the others; it never has a name
        public string? User(uint? id)
        {
            if (id is not uint v || v == uint.MaxValue)
            {
                return null;
            }
            if (_lastUser is null || v != _lastUid)
            {
                _lastUid = v;
                _lastUser = Lookup.User(v);
            }
            return _lastUser;
        }

        public string? Group(uint? id)
        {
            if (id is not uint v || v == uint.MaxValue)
            {
                return null;
            }
            if (_lastGroup is null || v != _lastGid)
            {
                _lastGid = v;
                _lastGroup = Lookup.Group(v);
            }
            return _lastGroup;
        }
    }

    private static void NameIds(AuditEventSummary s, ref Naming naming)
    {
        string? uid = naming.User(s.Uid), auid = naming.User(s.Auid), euid = naming.User(s.Euid);
        string? suid = naming.User(naming.Suid), fsuid = naming.User(naming.Fsuid);
        string? gid = naming.Group(s.Gid), egid = naming.Group(s.Egid), sgid = naming.Group(naming.Sgid), fsgid = naming.Group(naming.Fsgid);
        if (s.Names is null && (uid ?? auid ?? euid ?? suid ?? fsuid ?? gid ?? egid ?? sgid ?? fsgid) is null)
        {
            return;
        }
        AuditEventNames n = s.Names ??= new AuditEventNames();
        n.Uid = uid;
        n.Auid = auid;
        n.Euid = euid;
        n.Suid = suid;
        n.Fsuid = fsuid;
        n.Gid = gid;
        n.Egid = egid;
        n.Sgid = sgid;
        n.Fsgid = fsgid;
    }

    // The number after the first `key` (" ouid=") in text, which then starts after it.
    private static uint? IdAfter(ref ReadOnlySpan<byte> text, ReadOnlySpan<byte> key)
    {
        int at = text.IndexOf(key);
        if (at < 0)
        {
            return null;
        }
        text = text[(at + key.Length)..];
        int end = text.IndexOf((byte)' ');
        ReadOnlySpan<byte> digits = end < 0 ? text : text[..end];
        return AuditValues.TryParseUInt32(digits, out uint id) ? id : null;
    }

    // suid, fsuid, sgid, fsgid: only the SYSCALL record has them, and only names need them
    private static void ReadExtraId(ReadOnlySpan<byte> v, ref uint? id)
    {
        if (AuditValues.TryParseUInt32(v, out uint x))
        {
            id = x;
        }
    }

    // SYSCALL fields, and the same names in other records (user-space messages carry pid/uid/auid/ses, and exe/res in msg='...')
    private static void ReadProcessFields(AuditRecord record, AuditEventSummary s, bool fromSyscall, ref Naming naming)
    {
        AuditRecordReader r = record.Fields();
        while (r.Read())
        {
            ReadOnlySpan<byte> k = r.Key;
            ReadOnlySpan<byte> v = r.Value;
            bool ok = true;
            switch (k.Length)
            {
                case 3:
                    if (k.SequenceEqual("pid"u8)) { s.Pid = Pick(v, s.Pid, fromSyscall, ref ok); }
                    else if (k.SequenceEqual("uid"u8)) { s.Uid = Pick(v, s.Uid, fromSyscall, ref ok); }
                    else if (k.SequenceEqual("gid"u8)) { s.Gid = Pick(v, s.Gid, fromSyscall, ref ok); }
                    else if (k.SequenceEqual("ses"u8)) { s.Ses = Pick(v, s.Ses, fromSyscall, ref ok); }
                    else if (k.SequenceEqual("tty"u8)) { if (fromSyscall || s.Tty is null) { s.Tty = v.SequenceEqual("(none)"u8) ? "(none)" : System.Text.Encoding.UTF8.GetString(v); } }
                    else if (k.SequenceEqual("key"u8)) { if (fromSyscall || s.Key is null) { s.Key = AuditValues.DecodeString(v, r.ValueKind) ?? s.Key; } }
                    else if (k.SequenceEqual("exe"u8)) { if (fromSyscall || s.Exe is null) { s.Exe = AuditValues.DecodeString(v, r.ValueKind); } }
                    else if (k.SequenceEqual("res"u8) && !fromSyscall && s.Success is null)
                    {
                        // user-space res=success|failed, CONFIG_CHANGE res=1|0
                        s.Success = v.SequenceEqual("success"u8) || v.SequenceEqual("1"u8) || v.SequenceEqual("yes"u8);
                    }
                    break;
                case 4:
                    if (k.SequenceEqual("ppid"u8)) { s.Ppid = Pick(v, s.Ppid, fromSyscall, ref ok); }
                    else if (k.SequenceEqual("auid"u8)) { s.Auid = Pick(v, s.Auid, fromSyscall, ref ok); }
                    else if (k.SequenceEqual("euid"u8)) { s.Euid = Pick(v, s.Euid, fromSyscall, ref ok); }
                    else if (k.SequenceEqual("egid"u8)) { s.Egid = Pick(v, s.Egid, fromSyscall, ref ok); }
                    else if (k.SequenceEqual("comm"u8)) { if (fromSyscall || s.Comm is null) { s.Comm = AuditValues.DecodeString(v, r.ValueKind); } }
                    else if (k.SequenceEqual("arch"u8) && fromSyscall) { ok = AuditValues.TryParseHexUInt32(v, out uint a); s.Arch = ok ? a : null; }
                    else if (k.SequenceEqual("exit"u8) && fromSyscall) { ok = AuditValues.TryParseInt64(v, out long e); s.Exit = ok ? e : null; }
                    else if (naming.On && fromSyscall)
                    {
                        if (k.SequenceEqual("suid"u8)) { ReadExtraId(v, ref naming.Suid); }
                        else if (k.SequenceEqual("sgid"u8)) { ReadExtraId(v, ref naming.Sgid); }
                    }
                    break;
                case 5:
                    if (naming.On && fromSyscall)
                    {
                        if (k.SequenceEqual("fsuid"u8)) { ReadExtraId(v, ref naming.Fsuid); }
                        else if (k.SequenceEqual("fsgid"u8)) { ReadExtraId(v, ref naming.Fsgid); }
                    }
                    break;
                case 7:
                    if (fromSyscall)
                    {
                        if (k.SequenceEqual("syscall"u8)) { ok = Utf8Parser.TryParse(v, out int n, out int used) && used == v.Length; s.SyscallNumber = ok ? n : null; }
                        else if (k.SequenceEqual("success"u8)) { s.Success = v.SequenceEqual("yes"u8); }
                    }
                    break;
            }
            if (!ok)
            {
                s.FieldErrors++;
            }
        }
        if (r.Error != AuditParseError.None)
        {
            s.FieldErrors++;
        }
    }

    // A number field: the SYSCALL record's value wins; other records only fill an unset one.
    private static uint? Pick(ReadOnlySpan<byte> v, uint? current, bool overwrite, ref bool ok)
    {
        if (!overwrite && current is not null)
        {
            return current;
        }
        if (AuditValues.TryParseUInt32(v, out uint x))
        {
            return x;
        }
        // "unset" in some user-space messages, where the kernel writes 4294967295
        if (v.SequenceEqual("unset"u8))
        {
            return uint.MaxValue;
        }
        ok = false;
        return current;
    }

    private static void ReadCwd(AuditRecord record, AuditEventSummary s)
    {
        AuditRecordReader r = record.Fields();
        if (r.TryFind("cwd"u8))
        {
            s.Cwd = AuditValues.DecodeString(r.Value, r.ValueKind);
        }
        else if (r.Error != AuditParseError.None)
        {
            s.FieldErrors++;
        }
    }

    private static void ReadPath(AuditRecord record, AuditEventSummary s, ref Naming naming)
    {
        AuditRecordReader r = record.Fields();
        s.Paths ??= [];
        if (r.TryFind("name"u8))
        {
            s.Paths.Add(AuditValues.DecodeString(r.Value, r.ValueKind) ?? []);
        }
        else
        {
            s.Paths.Add([]);
            if (r.Error != AuditParseError.None)
            {
                s.FieldErrors++;
            }
        }
        if (naming.On)
        {
            NamePathOwner(r.Remaining, s, ref naming);
        }
    }

    // The PATH record's inode owner, in the fields after its name: inode=.. dev=.. mode=.. ouid=0 ogid=0 rdev=..
    private static void NamePathOwner(ReadOnlySpan<byte> fields, AuditEventSummary s, ref Naming naming)
    {
        // Found by searching rather than field by field (a third of the cost). After the name, " ouid=" can only
        // start that field: the other fields are numbers and words.
        uint? ouid = IdAfter(ref fields, " ouid="u8);
        uint? ogid = IdAfter(ref fields, " ogid="u8);
        string? owner = naming.User(ouid), group = naming.Group(ogid);
        int index = s.Paths!.Count - 1;
        if ((owner is null && group is null) || index >= naming.PathCount)
        {
            return;
        }
        AuditEventNames n = s.Names ??= new AuditEventNames();
        // the first PATH with a name sizes the arrays for all the event's PATH records
        (n.PathOuid ??= new string?[naming.PathCount])[index] = owner;
        (n.PathOgid ??= new string?[naming.PathCount])[index] = group;
    }

    private static void ReadProctitle(AuditRecord record, AuditEventSummary s)
    {
        AuditRecordReader r = record.Fields();
        if (!r.TryFind("proctitle"u8))
        {
            if (r.Error != AuditParseError.None)
            {
                s.FieldErrors++;
            }
            return;
        }
        byte[]? all = AuditValues.DecodeString(r.Value, r.ValueKind);
        var parts = new List<byte[]>();
        if (all is not null)
        {
            ReadOnlySpan<byte> rest = all;
            // the cmdline is NUL-separated; a trailing NUL ends the last argument, it does not start another
            if (!rest.IsEmpty && rest[^1] == 0)
            {
                rest = rest[..^1];
            }
            while (true)
            {
                int nul = rest.IndexOf((byte)0);
                if (nul < 0)
                {
                    parts.Add(rest.ToArray());
                    break;
                }
                parts.Add(rest[..nul].ToArray());
                rest = rest[(nul + 1)..];
            }
        }
        s.Proctitle = parts;
    }

    private static void ReadSockaddr(AuditRecord record, AuditEventSummary s)
    {
        AuditRecordReader r = record.Fields();
        if (r.TryFind("saddr"u8) && AuditValues.IsHex(r.Value))
        {
            byte[] bytes = new byte[r.Value.Length / 2];
            AuditValues.DecodeHex(r.Value, bytes);
            if (SocketAddressInfo.TryDecode(bytes, out SocketAddressInfo info))
            {
                s.SocketAddress = info;
                return;
            }
        }
        s.FieldErrors++;
    }

    /// <summary>
    /// Rebuilds argv from EXECVE records (docs/kernel-audit.md, "Records and events"): <c>argc=N</c>, then each
    /// argument as <c>aN=VALUE</c>, or, when it is long, <c>aN_len=L aN[0]=.. aN[1]=..</c>, possibly
    /// continued in the next EXECVE record. Each value or chunk is quoted or hex on its own.
    /// </summary>
    private struct ExecveBuilder
    {
        private List<byte[]>? _argv;
        private List<byte>? _long;
        private int _longIndex;
        private int _nextChunk;
        private bool _broken;
        private bool _seen;

        public void Read(AuditRecord record, AuditEventSummary s)
        {
            _seen = true;
            _argv ??= [];
            AuditRecordReader r = record.Fields();
            while (r.Read())
            {
                ReadOnlySpan<byte> k = r.Key;
                if (k.SequenceEqual("argc"u8))
                {
                    if (Utf8Parser.TryParse(r.Value, out int argc, out int used) && used == r.Value.Length && argc >= 0)
                    {
                        s.Argc = argc;
                    }
                    else
                    {
                        s.FieldErrors++;
                    }
                    continue;
                }
                if (k.Length < 2 || k[0] != (byte)'a' || !Utf8Parser.TryParse(k[1..], out int index, out int digits) || index < 0)
                {
                    continue;
                }
                ReadOnlySpan<byte> suffix = k[(1 + digits)..];
                if (suffix.IsEmpty)
                {
                    CloseLong();
                    if (index != _argv.Count)
                    {
                        _broken = true;
                    }
                    _argv.Add(AuditValues.DecodeString(r.Value, r.ValueKind) ?? []);
                }
                else if (suffix.SequenceEqual("_len"u8))
                {
                    CloseLong();
                    if (index != _argv.Count)
                    {
                        _broken = true;
                    }
                    _long = new List<byte>(Math.Min(AuditValues.TryParseUInt32(r.Value, out uint len) ? (int)Math.Min(len, 1u << 20) : 0, 1 << 20));
                    _longIndex = index;
                    _nextChunk = 0;
                }
                else if (suffix.Length > 2 && suffix[0] == (byte)'[' && suffix[^1] == (byte)']'
                    && Utf8Parser.TryParse(suffix[1..^1], out int chunk, out int chunkDigits) && chunkDigits == suffix.Length - 2)
                {
                    if (_long is null || index != _longIndex || chunk != _nextChunk)
                    {
                        _broken = true;
                        if (_long is null || index != _longIndex)
                        {
                            CloseLong();
                            _long = [];
                            _longIndex = index;
                        }
                    }
                    AuditValues.AppendString(r.Value, r.ValueKind, _long);
                    _nextChunk = chunk + 1;
                }
            }
            if (r.Error != AuditParseError.None)
            {
                s.FieldErrors++;
                _broken = true;
            }
        }

        public void Finish(AuditEventSummary s)
        {
            if (!_seen)
            {
                return;
            }
            CloseLong();
            s.Argv = _argv;
            s.ArgvComplete = !_broken && s.Argc == _argv!.Count;
        }

        private void CloseLong()
        {
            if (_long is not null)
            {
                _argv!.Add([.. _long]);
                _long = null;
            }
        }
    }
}
