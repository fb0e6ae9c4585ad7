using System.Collections.Frozen;
using System.Diagnostics.CodeAnalysis;

namespace Sluice.Audit.Tables;

/// <summary>
/// Syscall names and numbers per arch, generated from the kernel's unistd headers
/// (see Generator/generate.sh). Names print as auditctl and ausearch print them; both those
/// and the header spellings parse.
/// </summary>
public static class SyscallTable
{
    private sealed class ArchTable((string Name, int Number)[] entries, string arch)
    {
        public readonly FrozenDictionary<string, int> Numbers = Build(entries, arch);
        public readonly string?[] Names = BuildNames(entries, arch);

        private static FrozenDictionary<string, int> Build((string Name, int Number)[] entries, string arch)
        {
            var d = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var (name, number) in entries)
            {
                d.TryAdd(name, number);
            }
            foreach (var (a, number, name) in SyscallData.LibauditSpellings)
            {
                if (a == arch)
                {
                    d.TryAdd(name, number);
                }
            }
            return d.ToFrozenDictionary(StringComparer.Ordinal);
        }

        private static string?[] BuildNames((string Name, int Number)[] entries, string arch)
        {
            var names = new string?[entries.Max(e => e.Number) + 1];
            foreach (var (name, number) in entries)
            {
                names[number] ??= name;
            }
            foreach (var (a, number, name) in SyscallData.LibauditSpellings)
            {
                if (a == arch)
                {
                    names[number] = name;
                }
            }
            return names;
        }
    }

    private static readonly Lazy<ArchTable> s_x86_64 = new(() => new ArchTable(SyscallData.X86_64, "x86_64"));
    private static readonly Lazy<ArchTable> s_i386 = new(() => new ArchTable(SyscallData.I386, "i386"));
    private static readonly Lazy<ArchTable> s_aarch64 = new(() => new ArchTable(SyscallData.Aarch64, "aarch64"));

    private static ArchTable? For(uint arch) => arch switch
    {
        AuditArch.X86_64 => s_x86_64.Value,
        AuditArch.I386 => s_i386.Value,
        AuditArch.Aarch64 => s_aarch64.Value,
        _ => null,
    };

    /// <summary>The number of syscall <paramref name="name"/> on <paramref name="arch"/>.</summary>
    public static bool TryGetNumber(uint arch, string name, out int number)
    {
        number = -1;
        return For(arch)?.Numbers.TryGetValue(name, out number) == true;
    }

    /// <summary>The name of syscall <paramref name="number"/> on <paramref name="arch"/>.</summary>
    public static bool TryGetName(uint arch, int number, [NotNullWhen(true)] out string? name)
    {
        var names = For(arch)?.Names;
        name = names is not null && (uint)number < (uint)names.Length ? names[number] : null;
        return name is not null;
    }

    /// <summary>The highest syscall number known for <paramref name="arch"/>, or -1 for an unknown arch.</summary>
    public static int MaxNumber(uint arch) => (For(arch)?.Names.Length ?? 0) - 1;
}
