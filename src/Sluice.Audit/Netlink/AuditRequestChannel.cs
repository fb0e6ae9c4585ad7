using System.Buffers.Binary;
using Sluice.Audit.Interop;
using Sluice.Audit.Tables;
using static Sluice.Audit.Interop.Interop;

namespace Sluice.Audit.Netlink;

/// <summary>
/// Request/acknowledge exchanges on one netlink socket: sends a request with
/// NLM_F_REQUEST|NLM_F_ACK and reads until its ACK (and, for queries, its replies) arrive.
/// Messages that are not for the request (event records on a consumer socket) go to
/// <see cref="_unsolicited"/>, so nothing received while waiting is lost.
/// </summary>
internal sealed class AuditRequestChannel
{
    private readonly NetlinkAuditSocket _socket;
    private readonly Action<ushort, ReadOnlySpan<byte>>? _unsolicited;
    private readonly byte[] _buffer = new byte[128 * 1024];
    private uint _seq;

    public AuditRequestChannel(NetlinkAuditSocket socket, TimeSpan timeout, Action<ushort, ReadOnlySpan<byte>>? unsolicited)
    {
        _socket = socket;
        _unsolicited = unsolicited;
        int rc = socket.SetReceiveTimeout(timeout);
        if (rc < 0)
        {
            throw new AuditException(AuditErrorKind.Kernel, -rc, $"cannot set the netlink receive timeout: {ErrnoTable.NameOrNumber(-rc)}");
        }
    }

    /// <summary>
    /// Sends a request and waits for its ACK. Replies of the same sequence number are handed to
    /// <paramref name="onReply"/>; it returns true once it has everything it wants.
    /// </summary>
    /// <returns>The ACK's error field: 0, or a positive count (e.g. the old <c>lost</c>).</returns>
    /// <remarks>A negative ACK is returned as-is for the caller to turn into its own error.</remarks>
    public int Request(AuditMessageType type, ReadOnlySpan<byte> payload, ReplyHandler? onReply = null, bool multi = false)
    {
        uint seq = ++_seq;
        int rc = _socket.Send((ushort)type, NLM_F_REQUEST | NLM_F_ACK, seq, payload);
        if (rc < 0)
        {
            return rc;
        }
        bool acked = false;
        int ackValue = 0;
        bool repliesDone = onReply is null;
        while (!acked || !repliesDone)
        {
            int n = _socket.Receive(_buffer, dontWait: false);
            if (n < 0)
            {
                if (-n == Errno.EAGAIN)
                {
                    throw new AuditException(AuditErrorKind.Timeout, Errno.EAGAIN,
                        $"the kernel did not answer audit request {(ushort)type} in time");
                }
                if (-n == Errno.ENOBUFS)
                {
                    // Only a consumer socket overruns; the caller's counters see it on the next drain.
                    continue;
                }
                throw new AuditException(AuditErrorKind.Kernel, -n, $"receiving the answer to audit request {(ushort)type}: {ErrnoTable.NameOrNumber(-n)}");
            }
            if (n > _buffer.Length)
            {
                throw new AuditException(AuditErrorKind.Protocol, 0, $"a {n}-byte netlink reply exceeds the {_buffer.Length}-byte buffer");
            }
            var datagram = _buffer.AsSpan(0, n);
            while (datagram.Length >= NLMSG_HDRLEN)
            {
                uint len = BinaryPrimitives.ReadUInt32LittleEndian(datagram);
                ushort mtype = BinaryPrimitives.ReadUInt16LittleEndian(datagram.Slice(4));
                uint mseq = BinaryPrimitives.ReadUInt32LittleEndian(datagram.Slice(8));
                // Kernel-generated event records carry seq 0 and an nlmsg_len that excludes the
                // header (docs/kernel-audit.md, "Framing"); take their size from the datagram.
                if (mseq != seq || len < NLMSG_HDRLEN || len > datagram.Length)
                {
                    if (mseq == 0 && mtype != NLMSG_ERROR && mtype != NLMSG_DONE)
                    {
                        _unsolicited?.Invoke(mtype, datagram.Slice(NLMSG_HDRLEN));
                    }
                    break;
                }
                var body = datagram.Slice(NLMSG_HDRLEN, (int)len - NLMSG_HDRLEN);
                if (mtype == NLMSG_ERROR)
                {
                    ackValue = body.Length >= 4 ? BinaryPrimitives.ReadInt32LittleEndian(body) : -Errno.EINVAL;
                    acked = true;
                    if (ackValue < 0)
                    {
                        return ackValue;
                    }
                }
                else if (mtype == NLMSG_DONE)
                {
                    repliesDone = true;
                }
                else if (onReply is not null && !repliesDone)
                {
                    repliesDone = onReply((AuditMessageType)mtype, body) && !multi;
                }
                int step = NLMSG_ALIGN((int)len);
                if (step >= datagram.Length)
                {
                    break;
                }
                datagram = datagram.Slice(step);
            }
        }
        return ackValue;
    }

    public delegate bool ReplyHandler(AuditMessageType type, ReadOnlySpan<byte> body);
}
