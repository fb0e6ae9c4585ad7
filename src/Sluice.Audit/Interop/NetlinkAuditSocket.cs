using System.Runtime.InteropServices;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace Sluice.Audit.Interop;

/// <summary>
/// The raw NETLINK_AUDIT socket: every native call on it is here. Methods return a negative
/// errno rather than throwing, so the callers above the wall can turn it into a typed
/// <see cref="Netlink.AuditException"/> with the context they know. The descriptor is only ever
/// passed as its <see cref="NetlinkSocketHandle"/>, which keeps it open for the length of each call.
/// </summary>
internal sealed unsafe class NetlinkAuditSocket : IDisposable
{
    private readonly NetlinkSocketHandle _handle;

    private NetlinkAuditSocket(NetlinkSocketHandle handle) => _handle = handle;

    /// <summary>Opens and binds a socket with nl_pid 0 (the kernel assigns the port id).</summary>
    /// <returns>The socket, or null with <paramref name="errno"/> set.</returns>
    public static NetlinkAuditSocket? Open(uint groups, out int errno)
    {
        int fd = socket(Interop.AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, Interop.NETLINK_AUDIT);
        if (fd < 0)
        {
            errno = Marshal.GetLastPInvokeError() is var e && e != 0 ? e : LibC.errno;
            return null;
        }
        var handle = new NetlinkSocketHandle(fd);
        Interop.sockaddr_nl addr = default;
        addr.nl_family = Interop.AF_NETLINK;
        addr.nl_groups = groups;
        if (Interop.bind(handle, &addr, (uint)sizeof(Interop.sockaddr_nl)) < 0)
        {
            errno = Marshal.GetLastPInvokeError();
            handle.Dispose();
            return null;
        }
        errno = 0;
        return new NetlinkAuditSocket(handle);
    }

    /// <summary>Sends one request message to the kernel (nl_pid 0).</summary>
    public int Send(ushort type, ushort flags, uint seq, ReadOnlySpan<byte> payload)
    {
        int len = Interop.NLMSG_HDRLEN + payload.Length;
        int total = Interop.NLMSG_ALIGN(len);
        Span<byte> msg = total <= 2048 ? stackalloc byte[total] : new byte[total];
        msg.Clear();
        fixed (byte* p = msg)
        {
            var hdr = (Interop.nlmsghdr*)p;
            hdr->nlmsg_len = (uint)len;
            hdr->nlmsg_type = type;
            hdr->nlmsg_flags = flags;
            hdr->nlmsg_seq = seq;
            hdr->nlmsg_pid = 0;
            payload.CopyTo(msg.Slice(Interop.NLMSG_HDRLEN));
            Interop.sockaddr_nl dst = default;
            dst.nl_family = Interop.AF_NETLINK;
            while (true)
            {
                nint n = Interop.sendto(_handle, p, (nuint)total, 0, &dst, (uint)sizeof(Interop.sockaddr_nl));
                if (n >= 0)
                {
                    return 0;
                }
                int err = Marshal.GetLastPInvokeError();
                if (err != EINTR)
                {
                    return -err;
                }
            }
        }
    }

    /// <summary>Receives one datagram into <paramref name="buffer"/>.</summary>
    /// <returns>The datagram's full size (which may exceed the buffer: truncated), or -errno.</returns>
    public int Receive(Span<byte> buffer, bool dontWait)
    {
        int flags = MSG_TRUNC | (dontWait ? MSG_DONTWAIT : 0);
        fixed (byte* p = buffer)
        {
            while (true)
            {
                nint n = Interop.recv(_handle, p, (nuint)buffer.Length, flags);
                if (n >= 0)
                {
                    return (int)n;
                }
                int err = Marshal.GetLastPInvokeError();
                if (err != EINTR)
                {
                    return -err;
                }
            }
        }
    }

    /// <summary>
    /// Receives up to <paramref name="count"/> datagrams in one recvmmsg call, without waiting.
    /// Each message's length is written to <c>vec[i].msg_len</c> and its flags to
    /// <c>vec[i].msg_hdr.msg_flags</c>.
    /// </summary>
    /// <returns>The number of datagrams, or -errno.</returns>
    public int ReceiveMany(mmsghdr* vec, int count)
    {
        while (true)
        {
            int n = Interop.recvmmsg(_handle, vec, (uint)count, MSG_DONTWAIT, null);
            if (n >= 0)
            {
                return n;
            }
            int err = Marshal.GetLastPInvokeError();
            if (err != EINTR)
            {
                return -err;
            }
        }
    }

    /// <summary>SO_RCVBUFFORCE: a receive buffer of <paramref name="bytes"/>, above rmem_max (needs CAP_NET_ADMIN).</summary>
    public int SetReceiveBufferForce(int bytes) => SetInt(SOL_SOCKET, SO_RCVBUFFORCE, bytes);

    /// <summary>SO_RCVBUF: a receive buffer of <paramref name="bytes"/>, capped by net.core.rmem_max.</summary>
    public int SetReceiveBuffer(int bytes) => SetInt(SOL_SOCKET, SO_RCVBUF, bytes);

    /// <summary>SO_RCVBUF: the receive buffer in force.</summary>
    public int GetReceiveBuffer(out int bytes) => GetInt(SOL_SOCKET, SO_RCVBUF, out bytes);

    private int SetInt(int level, int name, int value)
    {
        return Interop.setsockopt(_handle, level, name, &value, sizeof(int)) < 0 ? -Marshal.GetLastPInvokeError() : 0;
    }

    private int GetInt(int level, int name, out int value)
    {
        int v = 0;
        uint len = sizeof(int);
        int rc = Interop.getsockopt(_handle, level, name, &v, &len);
        value = v;
        return rc < 0 ? -Marshal.GetLastPInvokeError() : 0;
    }

    /// <summary>Reads SO_MEMINFO: receive queue bytes, receive buffer, and drops.</summary>
    public int GetMemInfo(out uint rmemAlloc, out uint rcvbuf, out uint drops)
    {
        uint* info = stackalloc uint[Interop.SK_MEMINFO_VARS];
        uint len = (uint)(sizeof(uint) * Interop.SK_MEMINFO_VARS);
        int rc = Interop.getsockopt(_handle, SOL_SOCKET, Interop.SO_MEMINFO, info, &len);
        int err = rc < 0 ? Marshal.GetLastPInvokeError() : 0;
        rmemAlloc = info[Interop.SK_MEMINFO_RMEM_ALLOC];
        rcvbuf = info[Interop.SK_MEMINFO_RCVBUF];
        drops = info[Interop.SK_MEMINFO_DROPS];
        return -err;
    }

    /// <summary>Sets the receive timeout used by blocking <see cref="Receive"/> calls.</summary>
    public int SetReceiveTimeout(TimeSpan timeout)
    {
        timeval tv = default;
        tv.tv_sec = (long)timeout.TotalSeconds;
        tv.tv_usec = (long)(timeout.TotalMicroseconds % 1_000_000);
        return Interop.setsockopt(_handle, SOL_SOCKET, SO_RCVTIMEO, &tv, (uint)sizeof(timeval)) < 0 ? -Marshal.GetLastPInvokeError() : 0;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct timeval
    {
        public long tv_sec;
        public long tv_usec;
    }

    /// <summary>Waits until the socket is readable; false on timeout.</summary>
    public bool Poll(TimeSpan timeout)
    {
        // poll takes the descriptor inside a struct, so the reference the marshaller would take is taken here
        bool added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
            pollfd pfd = default;
            pfd.fd = _handle.Fd;
            pfd.events = POLLIN;
            int ms = timeout == Timeout.InfiniteTimeSpan ? -1 : (int)Math.Min(int.MaxValue, timeout.TotalMilliseconds);
            while (true)
            {
                int rc = poll(&pfd, 1, ms);
                if (rc >= 0)
                {
                    return rc > 0;
                }
                if (LibC.errno != EINTR)
                {
                    return false;
                }
            }
        }
        finally
        {
            if (added)
            {
                _handle.DangerousRelease();
            }
        }
    }

    public void Dispose() => _handle.Dispose();
}
