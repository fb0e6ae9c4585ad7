using System.Buffers;
using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Globalization;
using System.Text;

namespace Sluice.Audit.Tables;

/// <summary>
/// The names auditd and ausearch print after <c>type=</c> for each <see cref="AuditMessageType"/>, and back,
/// generated from linux/audit.h and libaudit.h. Lookups by a name's bytes (a log line's <c>type=NAME</c>) and
/// <see cref="NameOrUnknown(AuditMessageType)"/> allocate nothing once warm. Thread-safe.
/// </summary>
public static class AuditMessageTypeTable
{
    // longer than any printed name; a longer one is not looked up
    private const int MaxNameLength = 64;

    private static readonly FrozenDictionary<string, AuditMessageType> s_types = BuildTypes();
    private static readonly FrozenDictionary<string, AuditMessageType>.AlternateLookup<ReadOnlySpan<char>> s_typesByChars =
        s_types.GetAlternateLookup<ReadOnlySpan<char>>();
    private static readonly FrozenDictionary<AuditMessageType, string> s_names = BuildNames();

    // UNKNOWN[n] of the types without a name, made once each: bounded by the 16-bit type space.
    private static readonly ConcurrentDictionary<AuditMessageType, string> s_unknown = new();

    /// <summary>The type of a printed name such as "SYSCALL".</summary>
    public static bool TryGetType(string name, out AuditMessageType type) => s_types.TryGetValue(name, out type);

    /// <summary>The type of a printed name given as its ASCII bytes, such as a log line's <c>type=SYSCALL</c>.</summary>
    public static bool TryGetType(ReadOnlySpan<byte> name, out AuditMessageType type)
    {
        type = default;
        if (name.IsEmpty || name.Length > MaxNameLength)
        {
            return false;
        }
        Span<char> chars = stackalloc char[MaxNameLength];
        if (Ascii.ToUtf16(name, chars, out int written) != OperationStatus.Done)
        {
            return false;
        }
        return s_typesByChars.TryGetValue(chars[..written], out type);
    }

    /// <summary>The printed name of a type, or null when the headers have none (auditd then prints <c>UNKNOWN[n]</c>).</summary>
    public static string? Name(AuditMessageType type) => s_names.TryGetValue(type, out string? name) ? name : null;

    /// <summary>The printed name of a type number such as a rule's <c>msgtype</c> value (32 bits), or null.</summary>
    public static string? Name(uint type) => type <= ushort.MaxValue ? Name((AuditMessageType)type) : null;

    /// <summary>The name auditd prints for a type: its name, or <c>UNKNOWN[n]</c> when it has none.</summary>
    public static string NameOrUnknown(AuditMessageType type) =>
        s_names.TryGetValue(type, out string? name) ? name : s_unknown.GetOrAdd(type, static t => Unknown((uint)t));

    /// <summary>
    /// <see cref="NameOrUnknown(AuditMessageType)"/> of a type number as the protocol carries it (32 bits):
    /// <c>UNKNOWN[n]</c> also for a number beyond the 16 bits of a message type.
    /// </summary>
    public static string NameOrUnknown(uint type) => type <= ushort.MaxValue ? NameOrUnknown((AuditMessageType)type) : Unknown(type);

    /// <summary>All (printed name, type) pairs, by number.</summary>
    public static IReadOnlyList<(string Name, AuditMessageType Type)> All => AuditMessageTypeData.All;

    private static string Unknown(uint type) => $"UNKNOWN[{type.ToString(CultureInfo.InvariantCulture)}]";

    private static FrozenDictionary<string, AuditMessageType> BuildTypes()
    {
        var d = new Dictionary<string, AuditMessageType>(StringComparer.Ordinal);
        foreach (var (name, type) in AuditMessageTypeData.All)
        {
            d.TryAdd(name, type);
        }
        return d.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private static FrozenDictionary<AuditMessageType, string> BuildNames()
    {
        var d = new Dictionary<AuditMessageType, string>();
        foreach (var (name, type) in AuditMessageTypeData.All)
        {
            d.TryAdd(type, name);
        }
        return d.ToFrozenDictionary();
    }
}
