namespace Sluice.Audit.Records;

/// <summary>
/// What an event says, interpreted from its records: who did what, with which arguments, on which
/// paths, and whether it worked. Strings that come from the audited process are bytes (they need not
/// be UTF-8). Null means "not in the event".
/// </summary>
public sealed class AuditEventSummary
{
    /// <summary>Syscall name for the event's arch, e.g. <c>execve</c>; the number as text if the table has no name.</summary>
    public string? Syscall { get; set; }
    public int? SyscallNumber { get; set; }
    /// <summary>AUDIT_ARCH_* value, e.g. 0xc000003e.</summary>
    public uint? Arch { get; set; }
    /// <summary>Arch name, e.g. <c>x86_64</c>.</summary>
    public string? ArchName { get; set; }
    public bool? Success { get; set; }
    public long? Exit { get; set; }
    /// <summary>errno name of a negative <see cref="Exit"/>, e.g. <c>EACCES</c>.</summary>
    public string? ExitName { get; set; }
    public uint? Pid { get; set; }
    public uint? Ppid { get; set; }
    public uint? Uid { get; set; }
    /// <summary>Login uid; 4294967295 means unset.</summary>
    public uint? Auid { get; set; }
    public uint? Euid { get; set; }
    public uint? Gid { get; set; }
    public uint? Egid { get; set; }
    public uint? Ses { get; set; }
    public string? Tty { get; set; }
    public byte[]? Comm { get; set; }
    public byte[]? Exe { get; set; }
    /// <summary>Rule key(s); several keys are separated by 0x01 as the kernel sends them.</summary>
    public byte[]? Key { get; set; }
    public byte[]? Cwd { get; set; }
    /// <summary>The command line from EXECVE records, rebuilt exactly.</summary>
    public List<byte[]>? Argv { get; set; }
    /// <summary>argc as the kernel stated it.</summary>
    public int? Argc { get; set; }
    /// <summary>False when EXECVE records were missing or out of sequence: <see cref="Argv"/> is then partial.</summary>
    public bool ArgvComplete { get; set; } = true;
    /// <summary>The PATH records' names, in item order; empty for a <c>(null)</c> name.</summary>
    public List<byte[]>? Paths { get; set; }
    /// <summary>PROCTITLE decoded into its NUL-separated parts (the kernel keeps at most 128 bytes).</summary>
    public List<byte[]>? Proctitle { get; set; }
    public SocketAddressInfo? SocketAddress { get; set; }
    /// <summary>Names of the ids, when the interpretation resolved them and found any; null otherwise.</summary>
    public AuditEventNames? Names { get; set; }
    /// <summary>Fields that could not be read (a record with an unterminated quote, a number that is not one).</summary>
    public int FieldErrors { get; set; }
}
