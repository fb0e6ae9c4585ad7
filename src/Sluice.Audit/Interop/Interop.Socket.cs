using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Sluice.Audit.Interop;

// libc calls on a descriptor, declared on its SafeHandle as the runtime's own interop does: the
// marshaller holds a reference on the handle for the length of the call, so a Dispose on another
// thread cannot close the descriptor (and let its number be reused) under a call in progress.
// Tmds.LibC declares them on an int. Each sets errno: read it with Marshal.GetLastPInvokeError().
internal static partial class Interop
{
    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int bind(NetlinkSocketHandle sockfd, sockaddr_nl* addr, uint addrlen);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial nint sendto(NetlinkSocketHandle sockfd, void* buf, nuint len, int flags, sockaddr_nl* dest_addr, uint addrlen);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial nint recv(NetlinkSocketHandle sockfd, void* buf, nuint len, int flags);

    // Tmds.LibC has mmsghdr but no recvmmsg entry point.
    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int recvmmsg(NetlinkSocketHandle sockfd, Tmds.Linux.mmsghdr* msgvec, uint vlen, int flags, void* timeout);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int setsockopt(NetlinkSocketHandle sockfd, int level, int optname, void* optval, uint optlen);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int getsockopt(NetlinkSocketHandle sockfd, int level, int optname, void* optval, uint* optlen);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fsync(SafeFileHandle fd);
}
