namespace Sluice.Audit.Tables;

/// <summary>The AUDIT_ARCH_* values (linux/audit.h) for the architectures Sluice knows, and auditctl's spellings of them.</summary>
public static class AuditArch
{
    public const uint X86_64 = 0xC000003E;
    public const uint I386 = 0x40000003;
    public const uint Aarch64 = 0xC00000B7;

    /// <summary>32-bit ARM (little endian), what <c>b32</c> means on an aarch64 machine.</summary>
    public const uint Arm = 0x40000028;

    /// <summary>__AUDIT_ARCH_64BIT: set in every 64-bit arch value.</summary>
    public const uint Bit64 = 0x80000000;

    /// <summary>The arch of the machine this process runs on, or <see cref="X86_64"/> when it is none of ours.</summary>
    public static uint Machine { get; } = System.Runtime.InteropServices.RuntimeInformation.OSArchitecture switch
    {
        System.Runtime.InteropServices.Architecture.Arm64 => Aarch64,
        System.Runtime.InteropServices.Architecture.X86 => I386,
        System.Runtime.InteropServices.Architecture.Arm => Arm,
        _ => X86_64,
    };

    /// <summary>Parses an arch as auditctl's <c>-F arch=</c> does, with b64/b32 meaning x86_64/i386.</summary>
    public static bool TryParse(string name, out uint arch) => TryParse(name, X86_64, out arch);

    /// <summary>
    /// Parses an arch as auditctl's <c>-F arch=</c> does: a machine name (x86_64, i386..i686,
    /// aarch64, arm64, armv7l, ...) or <c>b64</c>/<c>b32</c>, which mean the 64- and 32-bit
    /// personalities of <paramref name="machine"/> (libaudit audit_determine_machine).
    /// </summary>
    public static bool TryParse(string name, uint machine, out uint arch)
    {
        arch = 0;
        switch (name)
        {
            case "b64":
                if ((machine & Bit64) == 0)
                {
                    return false; // a 32-bit machine has no 64-bit personality
                }
                arch = machine;
                return true;
            case "b32":
                arch = machine switch
                {
                    X86_64 or I386 => I386,
                    Aarch64 or Arm => Arm,
                    _ => 0,
                };
                return arch != 0;
            case "x86_64":
                arch = X86_64;
                return true;
            case "i386" or "i486" or "i586" or "i686":
                arch = I386;
                return true;
            case "aarch64" or "arm64":
                arch = Aarch64;
                return true;
            case "armeb" or "armv5tejl" or "armv5tel" or "armv6l" or "armv7l" or "arm":
                arch = Arm;
                return true;
            default:
                return false;
        }
    }

    /// <summary>The machine name of an arch value ("x86_64", "i386", "aarch64", "arm"), or null.</summary>
    public static string? Name(uint arch) => arch switch
    {
        X86_64 => "x86_64",
        I386 => "i386",
        Aarch64 => "aarch64",
        Arm => "arm",
        _ => null,
    };

    /// <summary>True for an arch value this library has a syscall table for.</summary>
    public static bool IsKnown(uint arch) => arch is X86_64 or I386 or Aarch64;
}
