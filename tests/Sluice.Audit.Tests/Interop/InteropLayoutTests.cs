using System.Reflection;
using System.Runtime.InteropServices;
using Sluice.Audit.Tables;
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

    // The message types the code sends or acts on, and the range bounds it uses, against the system's
    // linux/audit.h (AuditMessageType is generated from a copy of it, kept in the repository).
    public static TheoryData<string, AuditMessageType> MessageTypes => new()
    {
        { "AUDIT_GET", AuditMessageType.Get },
        { "AUDIT_SET", AuditMessageType.Set },
        { "AUDIT_USER", AuditMessageType.User },
        { "AUDIT_SIGNAL_INFO", AuditMessageType.SignalInfo },
        { "AUDIT_ADD_RULE", AuditMessageType.AddRule },
        { "AUDIT_DEL_RULE", AuditMessageType.DelRule },
        { "AUDIT_LIST_RULES", AuditMessageType.ListRules },
        { "AUDIT_SET_FEATURE", AuditMessageType.SetFeature },
        { "AUDIT_GET_FEATURE", AuditMessageType.GetFeature },
        { "AUDIT_SYSCALL", AuditMessageType.Syscall },
        { "AUDIT_PATH", AuditMessageType.Path },
        { "AUDIT_SOCKADDR", AuditMessageType.Sockaddr },
        { "AUDIT_CWD", AuditMessageType.Cwd },
        { "AUDIT_EXECVE", AuditMessageType.Execve },
        { "AUDIT_EOE", AuditMessageType.Eoe },
        { "AUDIT_BPRM_FCAPS", AuditMessageType.BprmFcaps },
        { "AUDIT_CAPSET", AuditMessageType.Capset },
        { "AUDIT_MMAP", AuditMessageType.Mmap },
        { "AUDIT_PROCTITLE", AuditMessageType.Proctitle },
        { "AUDIT_REPLACE", AuditMessageType.Replace },
        { "AUDIT_KERNEL", AuditMessageType.Kernel },
        { "AUDIT_WATCH_INS", AuditMessageType.WatchIns },
        { "AUDIT_FIRST_USER_MSG", AuditMessageTypeRange.FirstUserMsg },
        { "AUDIT_LAST_USER_MSG", AuditMessageTypeRange.LastUserMsg },
        { "AUDIT_FIRST_USER_MSG2", AuditMessageTypeRange.FirstUserMsg2 },
        { "AUDIT_LAST_USER_MSG2", AuditMessageTypeRange.LastUserMsg2 },
    };

    [Theory]
    [MemberData(nameof(MessageTypes))]
    public void MessageType_MatchesSystemHeaders(string name, AuditMessageType type)
    {
        Assert.True(s_native.Value.ContainsKey(name), $"layout.c does not print {name}");
        Assert.Equal(s_native.Value[name], (long)type);
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
