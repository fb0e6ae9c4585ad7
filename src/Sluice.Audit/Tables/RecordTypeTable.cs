using System.Collections.Frozen;

namespace Sluice.Audit.Tables;

/// <summary>
/// Audit message (record) types and the names auditd and ausearch print after <c>type=</c>,
/// generated from linux/audit.h and libaudit.h.
/// </summary>
public static class RecordTypeTable
{
    private static readonly Lazy<FrozenDictionary<string, int>> s_numbers = new(() =>
    {
        var d = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (name, number) in RecordTypeData.All)
        {
            d.TryAdd(name, number);
        }
        return d.ToFrozenDictionary(StringComparer.Ordinal);
    });

    private static readonly Lazy<FrozenDictionary<int, string>> s_names = new(() =>
    {
        var d = new Dictionary<int, string>();
        foreach (var (name, number) in RecordTypeData.All)
        {
            d.TryAdd(number, name);
        }
        return d.ToFrozenDictionary();
    });

    /// <summary>The number of a type name such as "SYSCALL" (1300).</summary>
    public static bool TryGetNumber(string name, out int type) => s_numbers.Value.TryGetValue(name, out type);

    /// <summary>The printed name of a type, or null when unknown (auditd then prints <c>UNKNOWN[n]</c>).</summary>
    public static string? Name(int type) => s_names.Value.TryGetValue(type, out var name) ? name : null;

    /// <summary>All known (name, number) pairs, by number.</summary>
    public static IReadOnlyList<(string Name, int Number)> All => RecordTypeData.All;
}
