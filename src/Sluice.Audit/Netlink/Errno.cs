namespace Sluice.Audit.Netlink;

/// <summary>The errno numbers the netlink code checks for, and their names for messages.</summary>
public static class Errno
{
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int ESRCH = 3;
    public const int EINTR = 4;
    public const int EAGAIN = 11;
    public const int ENOMEM = 12;
    public const int EACCES = 13;
    public const int EEXIST = 17;
    public const int EINVAL = 22;
    public const int ENOBUFS = 105;
    public const int ECONNREFUSED = 111;
    public const int EPROTONOSUPPORT = 93;
    public const int EAFNOSUPPORT = 97;

    /// <summary>The symbolic name of an errno, e.g. 13 → "EACCES", or "errno N".</summary>
    public static string Name(int errno) => Tables.ErrnoTable.Name(errno) ?? $"errno {errno}";
}
