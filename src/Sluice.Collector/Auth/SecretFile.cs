using System.Text;

namespace Sluice.Collector.Auth;

/// <summary>Reads a file that holds a secret (agent tokens or their digests, stream credentials), refusing one that users other than its owner can read or write.</summary>
/// <remarks>
/// The mode is checked on the opened file (fstat), so the file read is the file checked. Any group or
/// other permission is refused: a readable file gives tokens (or digests to guess them from) away, a
/// writable one lets a local user enrol a token of their own.
/// One exception: a file in systemd's credentials directory (<c>LoadCredential=</c>, the directory
/// named by <c>$CREDENTIALS_DIRECTORY</c>). systemd makes it 0400 root and grants this service's user
/// read access with an ACL, and with an ACL the group bits show the ACL's mask, not the group
/// (systemd src/core/exec-credential.c, write_credential). Others still get nothing there.
/// </remarks>
internal static class SecretFile
{
    private const UnixFileMode GroupBits = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute;
    private const UnixFileMode OtherBits = UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <param name="what">How the file is named in messages, e.g. "token file" or "--dashboard-token-file".</param>
    /// <param name="holds">What the file gives away, for the refusal's message.</param>
    /// <exception cref="FormatException">The file cannot be read, or group or others have access to it; the message names the file and its mode.</exception>
    public static string ReadAllText(string path, string what, string holds = "agent tokens or their digests")
    {
        try
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
            var mode = File.GetUnixFileMode(handle);
            var open = mode & (GroupBits | OtherBits);
            if (open != 0 && !(InCredentialsDirectory(path) && (mode & OtherBits) == 0))
            {
                throw new FormatException(
                    $"{what} {path} has mode {Octal(mode)}: group or others may {Access(open)} it, and it holds {holds}. " +
                    $"Make it private to the collector's user (chmod 0600 {path}), or hand it over with systemd's LoadCredential=");
            }
            using var stream = new FileStream(handle, FileAccess.Read);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            return reader.ReadToEnd();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new FormatException($"{what} {path}: cannot read it: {e.Message}", e);
        }
    }

    /// <summary>Mode bits as chmod takes them, e.g. 0644.</summary>
    internal static string Octal(UnixFileMode mode) => "0" + Convert.ToString((int)mode & 0x1FF, 8).PadLeft(3, '0');

    private static string Access(UnixFileMode open)
    {
        bool read = (open & (UnixFileMode.GroupRead | UnixFileMode.OtherRead)) != 0;
        bool write = (open & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0;
        return read && write ? "read and write" : read ? "read" : write ? "write" : "execute";
    }

    private static bool InCredentialsDirectory(string path)
    {
        string? credentials = Environment.GetEnvironmentVariable("CREDENTIALS_DIRECTORY");
        if (string.IsNullOrEmpty(credentials))
        {
            return false;
        }
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        return dir is not null && string.Equals(dir, Path.TrimEndingDirectorySeparator(Path.GetFullPath(credentials)), StringComparison.Ordinal);
    }
}
