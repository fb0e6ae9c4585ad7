using Sluice.Audit.Records;
using Sluice.Audit.Tables;

namespace Sluice.Agent.Enrichment;

/// <summary>What the process table needs from an event's syscall.</summary>
internal enum SyscallKind : byte
{
    Other,
    Exec,
    Fork,
    /// <summary>clone3: its flags are in a struct the record does not show (see <see cref="EventFacts"/>).</summary>
    Clone3,
    ExitGroup,
}

/// <summary>
/// The fields the process table reads from an event, straight from the records (no interpretation):
/// pid, ppid, syscall, success and exit, and for clone the flags in a0.
/// </summary>
internal ref struct EventFacts
{
    /// <summary>clone(2)'s CLONE_THREAD (include/uapi/linux/sched.h): the new task is a thread of the caller, not a process.</summary>
    public const ulong CloneThread = 0x00010000;

    public int Pid;
    public int Ppid;
    public SyscallKind Kind;
    public bool Success;
    public long Exit;
    public bool HasSyscall;

    /// <summary>Reads the facts; false when the event names no process.</summary>
    public static bool TryRead(AuditEvent ev, out EventFacts facts)
    {
        facts = default;
        int index = ev.IndexOf(AuditMessageType.Syscall);
        if (index < 0)
        {
            // Not a syscall event: user-space and other kernel records name the process as pid= (first record that has one).
            for (int i = 0; i < ev.Count && i < 4; i++)
            {
                var fields = ev[i].Fields();
                if (fields.TryFind("pid"u8) && int.TryParse(fields.Value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int p) && p > 0)
                {
                    facts.Pid = p;
                    return true;
                }
            }
            return false;
        }
        facts.HasSyscall = true;
        uint arch = 0;
        int number = -1;
        ulong a0 = 0;
        var reader = ev[index].Fields();
        while (reader.Read())
        {
            var key = reader.Key;
            var value = reader.Value;
            if (key.SequenceEqual("arch"u8))
            {
                AuditValues.TryParseHexUInt32(value, out arch);
            }
            else if (key.SequenceEqual("syscall"u8))
            {
                int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out number);
            }
            else if (key.SequenceEqual("success"u8))
            {
                facts.Success = value.SequenceEqual("yes"u8);
            }
            else if (key.SequenceEqual("exit"u8))
            {
                AuditValues.TryParseInt64(value, out facts.Exit);
            }
            else if (key.SequenceEqual("a0"u8))
            {
                ulong.TryParse(value, System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture, out a0);
            }
            else if (key.SequenceEqual("ppid"u8))
            {
                int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out facts.Ppid);
            }
            else if (key.SequenceEqual("pid"u8))
            {
                int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out facts.Pid);
                break; // arch, syscall, success, exit, a0..a3, items, ppid come before pid
            }
        }
        if (facts.Pid <= 0)
        {
            return false;
        }
        if (number >= 0 && SyscallTable.TryGetName(arch, number, out string? name))
        {
            facts.Kind = name switch
            {
                "execve" or "execveat" => SyscallKind.Exec,
                "fork" or "vfork" => SyscallKind.Fork,
                "clone" => (a0 & CloneThread) != 0 ? SyscallKind.Other : SyscallKind.Fork,
                "clone3" => SyscallKind.Clone3,
                "exit_group" => SyscallKind.ExitGroup,
                _ => SyscallKind.Other,
            };
        }
        return true;
    }

    /// <summary>
    /// Argv from the EXECVE records: <c>argc</c>, then <c>a0</c>.. (a long argument is split into
    /// <c>aN_len</c> and <c>aN[i]</c> pieces; it is kept whole when it fits the bounds). Bounded by
    /// <paramref name="maxArgs"/> and <paramref name="maxArgBytes"/>; truncated when cut or incomplete.
    /// </summary>
    public static (byte[][] Argv, bool Truncated) ReadArgv(AuditEvent ev, int maxArgs, int maxArgBytes)
    {
        int index = ev.IndexOf(AuditMessageType.Execve);
        if (index < 0)
        {
            return ([], false);
        }
        var args = new List<byte[]>();
        var piece = new List<byte>();
        int argc = -1, bytes = 0, pieceIndex = -1, seen = 0;
        bool truncated = false;
        for (; index >= 0; index = ev.IndexOf(AuditMessageType.Execve, index + 1))
        {
            var reader = ev[index].Fields();
            while (reader.Read())
            {
                var key = reader.Key;
                if (key.SequenceEqual("argc"u8))
                {
                    int.TryParse(reader.Value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out argc);
                    continue;
                }
                if (key.Length < 2 || key[0] != 'a')
                {
                    continue;
                }
                int bracket = key.IndexOf((byte)'[');
                int underscore = key.IndexOf((byte)'_');
                if (underscore > 0)
                {
                    continue; // aN_len: the pieces follow
                }
                if (!int.TryParse(key[1..(bracket > 0 ? bracket : key.Length)], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n))
                {
                    continue;
                }
                if (bracket > 0)
                {
                    if (pieceIndex != n)
                    {
                        Flush();
                        pieceIndex = n;
                    }
                    AuditValues.AppendString(reader.Value, reader.ValueKind, piece);
                    continue;
                }
                Flush();
                if (n != seen)
                {
                    truncated = true; // a gap: records missing
                    continue;
                }
                Add(AuditValues.DecodeString(reader.Value, reader.ValueKind) ?? []);
            }
        }
        Flush();
        if (argc >= 0 && seen < argc)
        {
            truncated = true;
        }
        return ([.. args], truncated);

        void Flush()
        {
            if (pieceIndex >= 0)
            {
                if (pieceIndex == seen)
                {
                    Add([.. piece]);
                }
                else
                {
                    truncated = true;
                }
                piece.Clear();
                pieceIndex = -1;
            }
        }

        void Add(byte[] arg)
        {
            seen++;
            if (args.Count >= maxArgs || (bytes >= maxArgBytes && arg.Length > 0))
            {
                truncated = true;
                return;
            }
            if (bytes + arg.Length > maxArgBytes)
            {
                arg = arg[..(maxArgBytes - bytes)];
                truncated = true;
            }
            bytes += arg.Length;
            args.Add(arg);
        }
    }

    /// <summary>A string field (exe, cwd) of the first record of <paramref name="type"/>, decoded; empty when absent.</summary>
    public static byte[] ReadString(AuditEvent ev, AuditMessageType type, ReadOnlySpan<byte> key, int max)
    {
        if (!ev.TryGetField(type, key, out var value, out var kind))
        {
            return [];
        }
        byte[] bytes = AuditValues.DecodeString(value, kind) ?? [];
        return bytes.Length > max ? bytes[..max] : bytes;
    }

    /// <summary>A numeric id field (uid, auid) of the SYSCALL record; null when absent or unset (4294967295).</summary>
    public static uint? ReadId(AuditEvent ev, ReadOnlySpan<byte> key) =>
        ev.TryGetField(AuditMessageType.Syscall, key, out var value, out _) && AuditValues.TryParseUInt32(value, out uint id) && id != uint.MaxValue ? id : null;
}
