using System.Reflection;
using System.Runtime.InteropServices;
using I = Sluice.Audit.Interop.Interop;

using Sluice.Testing;

namespace Sluice.Audit.Tests.Interop;

/// <summary>Every size, offset and constant of the interop layer, checked against the system headers.</summary>
public sealed class InteropLayoutTests
{
    private static readonly Lazy<Dictionary<string, long>> s_native = new(() =>
    {
        var (code, output) = NativeTools.Run(NativeTools.Get("layout"), "");
        Assert.Equal(0, code);
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' '))
            .ToDictionary(p => string.Join(' ', p[..^1]), p => long.Parse(p[^1]));
    });

    public static TheoryData<string> Structs => new() { "sockaddr_nl", "nlmsghdr", "nlmsgerr", "audit_status", "audit_rule_data", "audit_features" };

    [Theory]
    [MemberData(nameof(Structs))]
    public void StructLayout_MatchesSystemHeaders(string name)
    {
        var type = typeof(I).GetNestedType(name, BindingFlags.Public)!;
        Assert.NotNull(type);
        Assert.Equal(s_native.Value[$"sizeof {name}"], Marshal.SizeOf(type));
        var fields = type.GetFields(BindingFlags.Public | BindingFlags.Instance);
        Assert.NotEmpty(fields);
        foreach (var field in fields)
        {
            string key = $"offsetof {name}.{field.Name.TrimStart('@')}";
            Assert.True(s_native.Value.ContainsKey(key), $"layout.c does not check {key}");
            Assert.Equal(s_native.Value[key], (long)Marshal.OffsetOf(type, field.Name));
        }
    }

    [Fact]
    public void Constants_MatchSystemHeaders()
    {
        var constants = typeof(I).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral)
            .ToList();
        Assert.True(constants.Count > 50, $"only {constants.Count} constants found");
        var missing = new List<string>();
        foreach (var c in constants)
        {
            if (!s_native.Value.TryGetValue(c.Name, out long expected))
            {
                missing.Add(c.Name);
                continue;
            }
            Assert.True(Convert.ToInt64(c.GetRawConstantValue()) == expected, $"{c.Name}: C# {c.GetRawConstantValue()}, headers {expected}");
        }
        Assert.True(missing.Count == 0, "constants not checked against the headers: " + string.Join(", ", missing));
    }
}
