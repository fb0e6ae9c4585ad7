using System.Collections.Concurrent;
using System.Text;
using Sluice.Audit.Tables;

namespace Sluice.Audit.Records;

/// <summary>
/// Record type names ↔ numbers for the parser's hot path: a cache in front of <see cref="RecordTypeTable"/>
/// that looks names up by their bytes, so a log line's <c>type=NAME</c> costs no allocation after the
/// first time a name is seen. Thread-safe.
/// </summary>
public sealed class RecordTypeNames
{
    private const int MaxNameLength = 64;

    private readonly ConcurrentDictionary<string, int> _numbers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _byChars;
    private readonly ConcurrentDictionary<int, string> _names = new();

    public RecordTypeNames()
    {
        _byChars = _numbers.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>One instance shared by the process.</summary>
    public static RecordTypeNames Shared { get; } = new();

    /// <summary>The number of a type name such as <c>SYSCALL</c>.</summary>
    public bool TryGetNumber(ReadOnlySpan<byte> name, out int type)
    {
        type = 0;
        if (name.IsEmpty || name.Length > MaxNameLength)
        {
            return false;
        }
        Span<char> chars = stackalloc char[MaxNameLength];
        if (Ascii.ToUtf16(name, chars, out int written) != System.Buffers.OperationStatus.Done)
        {
            return false;
        }
        chars = chars[..written];
        if (_byChars.TryGetValue(chars, out type))
        {
            return true;
        }
        string s = new(chars);
        if (!RecordTypeTable.TryGetNumber(s, out type))
        {
            return false;
        }
        _numbers.TryAdd(s, type);
        return true;
    }

    /// <summary>The name of a type, e.g. 1300 → <c>SYSCALL</c>; <c>UNKNOWN[n]</c> (auditd's spelling) if it has none.</summary>
    public string Name(int type)
    {
        if (_names.TryGetValue(type, out string? name))
        {
            return name;
        }
        name = RecordTypeTable.Name(type);
        if (string.IsNullOrEmpty(name))
        {
            name = $"UNKNOWN[{type}]";
        }
        // Bounded: types are 16-bit netlink message types.
        if (type is >= 0 and <= ushort.MaxValue)
        {
            _names.TryAdd(type, name);
        }
        return name;
    }
}
