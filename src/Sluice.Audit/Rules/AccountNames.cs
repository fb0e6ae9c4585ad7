using Sluice.Audit.Accounts;

namespace Sluice.Audit.Rules;

/// <summary>
/// User and group names to ids from /etc/passwd and /etc/group, as auditctl resolves
/// <c>-F uid=root</c> when it compiles a rule (names are not kept in the kernel rule).
/// </summary>
/// <remarks>The files are read with <see cref="AccountFile"/>, the parser the interpretation's id → name cache uses.</remarks>
internal static class AccountNames
{
    /// <summary>The uid of <paramref name="name"/> in /etc/passwd, or null.</summary>
    public static uint? UserId(string name) => Lookup(AccountFile.PathOf("/", AccountKind.User), AccountKind.User, name);

    /// <summary>The gid of <paramref name="name"/> in /etc/group, or null.</summary>
    public static uint? GroupId(string name) => Lookup(AccountFile.PathOf("/", AccountKind.Group), AccountKind.Group, name);

    internal static uint? Lookup(string file, AccountKind kind, string name)
    {
        if (!File.Exists(file))
        {
            return null;
        }
        foreach (AccountEntry entry in AccountFile.Parse(File.ReadAllBytes(file), kind, out _, out _))
        {
            if (entry.Name == name)
            {
                return entry.Id;
            }
        }
        return null;
    }
}
