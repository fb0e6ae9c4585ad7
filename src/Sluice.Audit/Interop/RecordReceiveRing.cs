using System.Runtime.InteropServices;
using Tmds.Linux;

namespace Sluice.Audit.Interop;

/// <summary>
/// Native receive slots for recvmmsg: <see cref="Count"/> buffers of <see cref="SlotSize"/>
/// bytes, with their iovecs, sender addresses and mmsghdrs, allocated once per socket.
/// </summary>
/// <remarks>
/// Ownership: the ring belongs to one <see cref="Netlink.AuditEventSocket"/> and lives as long
/// as it does. A slot's bytes are valid only until the next <see cref="Receive"/> call; the
/// drain hands them to its sink as a span and the sink copies what it keeps. Native memory, so
/// the GC never moves the buffers the kernel writes into.
/// </remarks>
internal sealed unsafe class RecordReceiveRing : IDisposable
{
    // kauditd records are at most 8970 bytes of text (MAX_AUDIT_MESSAGE_LENGTH) plus the
    // 16-byte netlink header (docs/kernel-audit.md, "Framing"); a 9 KiB slot holds any of them,
    // and MSG_TRUNC flags the rest.
    public const int SlotSize = 9 * 1024;

    private readonly byte* _buffers;
    private readonly iovec* _iov;
    private readonly Interop.sockaddr_nl* _names;
    private readonly mmsghdr* _msgs;

    public RecordReceiveRing(int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        Count = count;
        _buffers = (byte*)NativeMemory.AlignedAlloc((nuint)(count * SlotSize), 64);
        _iov = (iovec*)NativeMemory.AllocZeroed((nuint)(count * sizeof(iovec)));
        _names = (Interop.sockaddr_nl*)NativeMemory.AllocZeroed((nuint)(count * sizeof(Interop.sockaddr_nl)));
        _msgs = (mmsghdr*)NativeMemory.AllocZeroed((nuint)(count * sizeof(mmsghdr)));
        for (int i = 0; i < count; i++)
        {
            _iov[i].iov_base = _buffers + (long)i * SlotSize;
            _iov[i].iov_len = (size_t)SlotSize;
        }
    }

    public int Count { get; }

    /// <summary>One recvmmsg call; returns the number of datagrams, or -errno.</summary>
    public int Receive(NetlinkAuditSocket socket, int max)
    {
        int n = Math.Min(max, Count);
        for (int i = 0; i < n; i++)
        {
            msghdr h = default;
            h.msg_name = _names + i;
            h.msg_namelen = (socklen_t)sizeof(Interop.sockaddr_nl);
            h.msg_iov = _iov + i;
            h.msg_iovlen = 1;
            _msgs[i].msg_hdr = h;
            _msgs[i].msg_len = 0;
        }
        return socket.ReceiveMany(_msgs, n);
    }

    /// <summary>The bytes received in slot <paramref name="i"/> (at most the slot size).</summary>
    public ReadOnlySpan<byte> Datagram(int i) =>
        new(_buffers + (long)i * SlotSize, (int)Math.Min(_msgs[i].msg_len, (uint)SlotSize));

    public bool Truncated(int i) => (_msgs[i].msg_hdr.msg_flags & LibC.MSG_TRUNC) != 0 || _msgs[i].msg_len > SlotSize;

    /// <summary>The sender's port id: 0 for the kernel.</summary>
    public uint SenderPort(int i) => _names[i].nl_pid;

    public void Dispose()
    {
        NativeMemory.AlignedFree(_buffers);
        NativeMemory.Free(_iov);
        NativeMemory.Free(_names);
        NativeMemory.Free(_msgs);
    }
}
