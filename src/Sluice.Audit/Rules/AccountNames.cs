namespace Sluice.Audit.Rules;

/// <summary>
/// User and group names to ids from /etc/passwd and /etc/group, as auditctl resolves
/// <c>-F uid=root</c> when it compiles a rule (names are not kept in the kernel rule).
/// </summary>
public static class AccountNames
{
    /// <summary>The uid of <paramref name="name"/> in /etc/passwd, or null.</summary>
    public static uint? UserId(string name) => Lookup("/etc/passwd", name);

    /// <summary>The gid of <paramref name="name"/> in /etc/group, or null.</summary>
    public static uint? GroupId(string name) => Lookup("/etc/group", name);

    internal static uint? Lookup(string file, string name)
    {
        if (!File.Exists(file))
        {
            return null;
        }
        foreach (var line in File.ReadLines(file))
        {
            // name:password:id:...
            var parts = line.Split(':');
            if (parts.Length > 2 && parts[0] == name && uint.TryParse(parts[2], out uint id))
            {
                return id;
            }
        }
        return null;
    }
}
