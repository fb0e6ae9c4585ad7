using System.Runtime.InteropServices;

namespace Sluice.Collector.Interop;

/// <summary>
/// The libc calls the token file needs that .NET does not offer: its identity and owner (statx), and giving a
/// rewritten copy the owner of the file it replaces (fchown). Names are kept as in C.
/// </summary>
/// <remarks>
/// <c>struct statx</c> has the same layout on every architecture (linux/stat.h), unlike <c>struct stat</c>, so its
/// fields are read at fixed offsets. glibc has wrapped statx since 2.28.
/// </remarks>
internal static unsafe partial class Files
{
    private const int AT_FDCWD = -100;
    private const uint STATX_BASIC_STATS = 0x7ff;
    private const int StatxSize = 256;

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", EntryPoint = "fchown", SetLastError = true)]
    private static partial int fchown(int fd, uint owner, uint group);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint geteuid();

    [LibraryImport("libc", EntryPoint = "getegid")]
    private static partial uint getegid();

    public static uint EffectiveUid() => geteuid();

    public static uint EffectiveGid() => getegid();

    /// <summary>What identifies a version of a file without reading it: its inode, size, owner, and change and modification times.</summary>
    internal readonly record struct FileStamp(ulong Inode, ulong Device, long Size, uint Uid, uint Gid, long ModifiedNs, long ChangedNs);

    /// <summary>The file's stamp (following symbolic links), or null when it cannot be looked at (the error is in <paramref name="error"/>).</summary>
    public static FileStamp? Stat(string path, out string? error)
    {
        byte* b = stackalloc byte[StatxSize];
        if (statx(AT_FDCWD, path, 0, STATX_BASIC_STATS, b) != 0)
        {
            error = Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError());
            return null;
        }
        error = null;
        // Offsets in struct statx: uid 20, gid 24, ino 32, size 40, ctime 96, mtime 112 (tv_sec i64, tv_nsec u32),
        // dev_major 136, dev_minor 140.
        static long Ns(byte* t) => *(long*)t * 1_000_000_000L + *(uint*)(t + 8);
        return new FileStamp(
            Inode: *(ulong*)(b + 32),
            Device: ((ulong)*(uint*)(b + 136) << 32) | *(uint*)(b + 140),
            Size: *(long*)(b + 40),
            Uid: *(uint*)(b + 20),
            Gid: *(uint*)(b + 24),
            ModifiedNs: Ns(b + 112),
            ChangedNs: Ns(b + 96));
    }

    /// <summary>Gives an open file an owner and group.</summary>
    /// <exception cref="IOException">fchown failed (e.g. EPERM for a user who may not give files away).</exception>
    public static void ChangeOwner(SafeHandle file, uint uid, uint gid)
    {
        bool added = false;
        file.DangerousAddRef(ref added);
        try
        {
            if (fchown((int)file.DangerousGetHandle(), uid, gid) != 0)
            {
                throw new IOException($"cannot give it owner {uid}:{gid}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
            }
        }
        finally
        {
            if (added)
            {
                file.DangerousRelease();
            }
        }
    }
}
