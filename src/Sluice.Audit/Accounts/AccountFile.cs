using System.Buffers.Text;
using System.Text;

namespace Sluice.Audit.Accounts;

/// <summary>Which account database a file holds.</summary>
public enum AccountKind : byte
{
    /// <summary><c>/etc/passwd</c>: <c>name:password:uid:gid:gecos:home:shell</c>.</summary>
    User,
    /// <summary><c>/etc/group</c>: <c>name:password:gid:members</c>.</summary>
    Group,
}

/// <summary>What one line of an account file is.</summary>
internal enum AccountLineKind : byte
{
    /// <summary>A name and its id.</summary>
    Entry,
    /// <summary>Blank, a comment (<c>#</c>), or a NIS compat line (<c>+</c>/<c>-</c>): nothing to read, nothing wrong.</summary>
    Ignored,
    /// <summary>Too few fields, an empty name, or an id that is not a decimal number below 4294967295.</summary>
    Malformed,
}

/// <summary>One name and id of an account file.</summary>
internal readonly record struct AccountEntry(string Name, uint Id);

/// <summary>
/// Reads /etc/passwd and /etc/group as the C library's "files" backend does, without NSS: the
/// local files only (no LDAP, no systemd-userdb, no NIS compat entries).
/// </summary>
internal static class AccountFile
{
    /// <summary>Account files larger than this are refused rather than read into memory.</summary>
    public const int MaxBytes = 32 << 20;

    /// <summary>The file of <paramref name="kind"/> under <paramref name="root"/> (<c>/</c> for this host).</summary>
    public static string PathOf(string root, AccountKind kind) =>
        Path.Combine(root, "etc", kind == AccountKind.User ? "passwd" : "group");

    /// <summary>Reads one line (without its newline).</summary>
    public static AccountLineKind ParseLine(ReadOnlySpan<byte> line, AccountKind kind, out ReadOnlySpan<byte> name, out uint id)
    {
        name = default;
        id = 0;
        if (!line.IsEmpty && line[^1] == (byte)'\r')
        {
            line = line[..^1];
        }
        ReadOnlySpan<byte> trimmed = line.TrimStart(" \t"u8);
        if (trimmed.IsEmpty || trimmed[0] is (byte)'#' or (byte)'+' or (byte)'-')
        {
            return AccountLineKind.Ignored;
        }
        // passwd has 7 fields, group 4; the last may itself hold ':' (the C library takes the rest of the line)
        int needed = kind == AccountKind.User ? 7 : 4;
        if (line.Count((byte)':') < needed - 1)
        {
            return AccountLineKind.Malformed;
        }
        int first = line.IndexOf((byte)':');
        name = line[..first];
        ReadOnlySpan<byte> rest = line[(first + 1)..];
        rest = rest[(rest.IndexOf((byte)':') + 1)..];
        ReadOnlySpan<byte> idText = rest[..rest.IndexOf((byte)':')];
        // (uid_t)-1 is "no id" to the kernel and to chown(2); it names nobody
        if (name.IsEmpty || idText.IsEmpty || idText[0] is < (byte)'0' or > (byte)'9'
            || !Utf8Parser.TryParse(idText, out id, out int used) || used != idText.Length || id == uint.MaxValue)
        {
            id = 0;
            return AccountLineKind.Malformed;
        }
        return AccountLineKind.Entry;
    }

    /// <summary>Every entry of <paramref name="content"/>, in file order; malformed lines are counted and skipped.</summary>
    public static List<AccountEntry> Parse(ReadOnlySpan<byte> content, AccountKind kind, out int malformed, out int firstMalformedLine)
    {
        var entries = new List<AccountEntry>();
        malformed = 0;
        firstMalformedLine = 0;
        int lineNumber = 0;
        while (!content.IsEmpty)
        {
            lineNumber++;
            int end = content.IndexOf((byte)'\n');
            ReadOnlySpan<byte> line = end < 0 ? content : content[..end];
            content = end < 0 ? default : content[(end + 1)..];
            switch (ParseLine(line, kind, out ReadOnlySpan<byte> name, out uint id))
            {
                case AccountLineKind.Entry:
                    entries.Add(new AccountEntry(Encoding.UTF8.GetString(name), id));
                    break;
                case AccountLineKind.Malformed:
                    malformed++;
                    if (firstMalformedLine == 0)
                    {
                        firstMalformedLine = lineNumber;
                    }
                    break;
            }
        }
        return entries;
    }
}
