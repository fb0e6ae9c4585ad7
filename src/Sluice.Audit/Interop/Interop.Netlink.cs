using System.Runtime.InteropServices;

namespace Sluice.Audit.Interop;

// Netlink declarations from linux/netlink.h. Names are kept as in C so they can be checked
// against the headers (see tests/Sluice.Audit.Tests/Interop/InteropLayoutTests.cs).
internal static partial class Interop
{
    public const int AF_NETLINK = 16;
    public const int NETLINK_AUDIT = 9;
    public const int SOL_NETLINK = 270;
    public const int NETLINK_ADD_MEMBERSHIP = 1;
    public const int NETLINK_DROP_MEMBERSHIP = 2;
    public const int NETLINK_NO_ENOBUFS = 5;

    public const ushort NLM_F_REQUEST = 0x01;
    public const ushort NLM_F_MULTI = 0x02;
    public const ushort NLM_F_ACK = 0x04;

    public const ushort NLMSG_NOOP = 1;
    public const ushort NLMSG_ERROR = 2;
    public const ushort NLMSG_DONE = 3;
    public const ushort NLMSG_OVERRUN = 4;

    public const int NLMSG_ALIGNTO = 4;
    public const int NLMSG_HDRLEN = 16;

    // linux/sock_diag.h: SK_MEMINFO_* indexes into the SO_MEMINFO array.
    public const int SO_MEMINFO = 55;
    public const int SK_MEMINFO_RMEM_ALLOC = 0;
    public const int SK_MEMINFO_RCVBUF = 1;
    public const int SK_MEMINFO_DROPS = 8;
    public const int SK_MEMINFO_VARS = 9;

    public static int NLMSG_ALIGN(int len) => (len + NLMSG_ALIGNTO - 1) & ~(NLMSG_ALIGNTO - 1);

    [StructLayout(LayoutKind.Explicit, Size = 12)]
    public struct sockaddr_nl
    {
        [FieldOffset(0)] public ushort nl_family;
        [FieldOffset(2)] public ushort nl_pad;
        [FieldOffset(4)] public uint nl_pid;
        [FieldOffset(8)] public uint nl_groups;
    }

    [StructLayout(LayoutKind.Explicit, Size = 16)]
    public struct nlmsghdr
    {
        [FieldOffset(0)] public uint nlmsg_len;
        [FieldOffset(4)] public ushort nlmsg_type;
        [FieldOffset(6)] public ushort nlmsg_flags;
        [FieldOffset(8)] public uint nlmsg_seq;
        [FieldOffset(12)] public uint nlmsg_pid;
    }

    [StructLayout(LayoutKind.Explicit, Size = 20)]
    public struct nlmsgerr
    {
        [FieldOffset(0)] public int error;
        [FieldOffset(4)] public nlmsghdr msg;
    }
}
