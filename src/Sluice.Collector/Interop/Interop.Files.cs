using System.Runtime.InteropServices;
using System.Text;
using Tmds.Linux;

namespace Sluice.Collector.Interop;

/// <summary>
/// The libc calls the token file needs that .NET does not offer, through Tmds.LibC: its identity and owner (stat),
/// and giving a rewritten copy the owner of the file it replaces (fchown).
/// </summary>
internal static unsafe class Files
{
    public static uint EffectiveUid() => LibC.geteuid();

    public static uint EffectiveGid() => LibC.getegid();

    /// <summary>What identifies a version of a file without reading it: its inode, size, owner, and change and modification times.</summary>
    internal readonly record struct FileStamp(ulong Inode, ulong Device, long Size, uint Uid, uint Gid, long ModifiedNs, long ChangedNs);

    /// <summary>The file's stamp (following symbolic links), or null when it cannot be looked at (the error is in <paramref name="error"/>).</summary>
    public static FileStamp? Stat(string path, out string? error)
    {
        stat st;
        int rc;
        fixed (byte* p = Encoding.UTF8.GetBytes(path + "\0"))
        {
            rc = LibC.stat(p, &st);
        }
        if (rc != 0)
        {
            error = Marshal.GetPInvokeErrorMessage(LibC.errno);
            return null;
        }
        error = null;
        static long Ns(timespec t) => t.tv_sec * 1_000_000_000L + t.tv_nsec;
        return new FileStamp(st.st_ino, st.st_dev, st.st_size, st.st_uid, st.st_gid, Ns(st.st_mtim), Ns(st.st_ctim));
    }

    /// <summary>Gives an open file an owner and group.</summary>
    /// <exception cref="IOException">fchown failed (e.g. EPERM for a user who may not give files away).</exception>
    public static void ChangeOwner(SafeHandle file, uint uid, uint gid)
    {
        bool added = false;
        file.DangerousAddRef(ref added);
        try
        {
            if (LibC.fchown((int)file.DangerousGetHandle(), uid, gid) != 0)
            {
                throw new IOException($"cannot give it owner {uid}:{gid}: {Marshal.GetPInvokeErrorMessage(LibC.errno)}");
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
