using System.Collections.Frozen;

namespace Sluice.Audit.Tables;

/// <summary>errno names and numbers, generated from asm-generic/errno-base.h and errno.h (the constants: <see cref="Errno"/>).</summary>
internal static class ErrnoTable
{
    private static readonly Lazy<FrozenDictionary<string, int>> s_numbers = new(() =>
    {
        var d = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (name, number) in ErrnoData.All)
        {
            d.TryAdd(name, number);
        }
        return d.ToFrozenDictionary(StringComparer.Ordinal);
    });

    private static readonly Lazy<FrozenDictionary<int, string>> s_names = new(() =>
    {
        // The generated table lists the canonical name of a number first (EAGAIN before EWOULDBLOCK).
        var d = new Dictionary<int, string>();
        foreach (var (name, number) in ErrnoData.All)
        {
            d.TryAdd(number, name);
        }
        return d.ToFrozenDictionary();
    });

    /// <summary>The number of an errno name such as "EACCES"; aliases like EWOULDBLOCK too.</summary>
    public static bool TryGetNumber(string name, out int errno) => s_numbers.Value.TryGetValue(name, out errno);

    /// <summary>The canonical name of a (positive) errno, or null.</summary>
    public static string? Name(int errno) => s_names.Value.TryGetValue(errno, out var name) ? name : null;

    /// <summary>The canonical name of an errno for a message, e.g. 13 → "EACCES"; "errno N" when it has none.</summary>
    public static string NameOrNumber(int errno) => Name(errno) ?? $"errno {errno}";
}
