using System.Text;
using Sluice.Audit.Rules;

namespace Sluice.Testing;

/// <summary>
/// Builds simple binary exit rules for kernel tests, independently of the rules compiler
/// (so the compiler's own tests can compare against something it did not make).
/// </summary>
public static class TestRules
{
    public const uint X86_64 = 0xC000003E;
    public const uint Exit = 4;
    public const uint Always = 2;
    public const uint FieldArch = 11;
    public const uint FieldPpid = 18;
    public const uint FieldPid = 0;
    public const uint FieldKey = 210;
    public const uint OpEqual = 0x40000000;

    /// <summary>The start of every key a test gives the rules it loads.</summary>
    public const string KeyPrefix = "sluice-test-";

    /// <summary>A unique key for one test: <c>sluice-test-NAME-RANDOM</c>.</summary>
    public static string UniqueKey(string name) => $"{KeyPrefix}{name}-{Guid.NewGuid().ToString("N")[..12]}";

    /// <summary><c>-a always,exit -F arch=b64 -S nr... [-F ppid=P] -F key=K</c>.</summary>
    public static KernelRule ExitRule(string key, int[] syscalls, uint? ppid = null)
    {
        var mask = new uint[64];
        foreach (int nr in syscalls)
        {
            mask[nr / 32] |= 1u << (nr % 32);
        }
        var keyBytes = Encoding.UTF8.GetBytes(key);
        var fields = new List<(uint, uint, uint)> { (FieldArch, OpEqual, X86_64) };
        if (ppid is uint p)
        {
            fields.Add((FieldPpid, OpEqual, p));
        }
        fields.Add((FieldKey, OpEqual, (uint)keyBytes.Length));
        return KernelRule.Create(Exit, Always, mask, fields.ToArray(), keyBytes);
    }

    public const int Execve = 59;
    public const int Getppid = 110;
}
