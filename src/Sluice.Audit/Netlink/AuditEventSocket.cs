using System.Buffers.Binary;
using Sluice.Audit.Interop;
using Sluice.Audit.Tables;
using static Sluice.Audit.Interop.Interop;

namespace Sluice.Audit.Netlink;

/// <summary>How an <see cref="AuditEventSocket"/> gets records.</summary>
public enum AuditReceiveMode
{
    /// <summary>The registered consumer: kauditd unicasts every record to it (only one such process).</summary>
    Unicast,
    /// <summary>A listener on AUDIT_NLGRP_READLOG: best effort, coexists with auditd, never blocks kauditd (docs/kernel-audit.md, "Delivery").</summary>
    Multicast,
}

/// <summary>
/// The event socket: receives kernel audit records, many datagrams per syscall (recvmmsg),
/// without waiting. In <see cref="AuditReceiveMode.Unicast"/> mode it claims the consumer PID
/// on itself. Counts every way records are lost on the way in.
/// </summary>
/// <remarks>Drain from one thread at a time; <see cref="Counters"/> may be read from any thread.</remarks>
public sealed class AuditEventSocket : IDisposable
{
    // A record that arrives while we wait for an ACK (a claim races kauditd) is kept here and
    // delivered first by the next drain; bounded, overflow counted in PendingDropped.
    private const int MaxPending = 4096;

    private readonly NetlinkAuditSocket _socket;
    private readonly RecordReceiveRing _ring;
    private readonly AuditRequestChannel _channel;
    private readonly Queue<(ushort Type, byte[] Text)> _pending = new();
    private bool _claimed;

    private long _records;
    private long _bytes;
    private long _calls;
    private long _enobufs;
    private long _truncated;
    private long _replaces;
    private uint _lastReplacePid;
    private long _foreign;
    private long _pendingDropped;

    private AuditEventSocket(NetlinkAuditSocket socket, AuditReceiveMode mode, int batch)
    {
        _socket = socket;
        Mode = mode;
        _ring = new RecordReceiveRing(batch);
        _channel = new AuditRequestChannel(socket, TimeSpan.FromSeconds(5), Stash);
    }

    /// <summary>Opens an event socket.</summary>
    /// <param name="mode">Unicast (claim the consumer PID with <see cref="ClaimConsumer"/>) or multicast.</param>
    /// <param name="batch">Datagrams per recvmmsg call.</param>
    public static AuditEventSocket Open(AuditReceiveMode mode, int batch = 64)
    {
        uint groups = mode == AuditReceiveMode.Multicast ? 1u << (AUDIT_NLGRP_READLOG - 1) : 0;
        var socket = NetlinkAuditSocket.Open(groups, out int errno);
        if (socket is null)
        {
            if (mode == AuditReceiveMode.Multicast && (errno == Errno.EPERM || errno == Errno.EACCES))
            {
                throw new AuditException(AuditErrorKind.PermissionDenied, errno,
                    "cannot join the audit multicast group (AUDIT_NLGRP_READLOG): it needs root or CAP_AUDIT_READ");
            }
            throw AuditControlClient.SocketError(errno);
        }
        return new AuditEventSocket(socket, mode, batch);
    }

    public AuditReceiveMode Mode { get; }

    /// <summary>True while this socket is the registered consumer.</summary>
    public bool IsConsumer => _claimed;

    /// <summary>
    /// Asks for a receive buffer of <paramref name="bytes"/> with SO_RCVBUFFORCE (root, ignores
    /// rmem_max), falling back to SO_RCVBUF.
    /// </summary>
    /// <returns>The size the kernel actually granted (it doubles the request for bookkeeping: docs/kernel-audit.md,
    /// "The periodic drain works when the reservoir is big enough").</returns>
    public int SetReceiveBuffer(int bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        int rc = _socket.SetReceiveBufferForce(bytes);
        if (rc < 0)
        {
            // Without CAP_NET_ADMIN only SO_RCVBUF works, capped by net.core.rmem_max.
            rc = _socket.SetReceiveBuffer(bytes);
            if (rc < 0)
            {
                throw new AuditException(AuditErrorKind.Kernel, -rc, $"cannot set the receive buffer to {bytes} bytes: {ErrnoTable.NameOrNumber(-rc)}");
            }
        }
        return ReceiveBufferSize;
    }

    /// <summary>The receive buffer size in force (SO_RCVBUF).</summary>
    public int ReceiveBufferSize
    {
        get
        {
            int rc = _socket.GetReceiveBuffer(out int value);
            return rc < 0 ? 0 : value;
        }
    }

    /// <summary>The receive queue's fill and drops, from SO_MEMINFO.</summary>
    public SocketMemoryInfo GetMemoryInfo()
    {
        int rc = _socket.GetMemInfo(out uint alloc, out uint rcvbuf, out uint drops);
        if (rc < 0)
        {
            throw new AuditException(AuditErrorKind.Kernel, -rc, $"SO_MEMINFO failed: {ErrnoTable.NameOrNumber(-rc)}");
        }
        return new SocketMemoryInfo(alloc, rcvbuf, drops);
    }

    /// <summary>Registers this process (its tgid) as the audit consumer, on this socket.</summary>
    /// <exception cref="AuditException">Kind <see cref="AuditErrorKind.ConsumerRegistered"/> naming the holder.</exception>
    public void ClaimConsumer()
    {
        if (Mode != AuditReceiveMode.Unicast)
        {
            throw new InvalidOperationException("a multicast socket cannot be the audit consumer");
        }
        uint pid = (uint)Environment.ProcessId;
        int rc = AuditControlClient.SetField(_channel, AUDIT_STATUS_PID, pid);
        if (rc < 0)
        {
            using var control = AuditControlClient.Open();
            throw control.PidError(-rc, pid);
        }
        _claimed = true;
    }

    /// <summary>Unregisters (pid 0). Only the registered process may.</summary>
    public void ReleaseConsumer()
    {
        int rc = AuditControlClient.SetField(_channel, AUDIT_STATUS_PID, 0);
        if (rc < 0)
        {
            using var control = AuditControlClient.Open();
            throw control.PidError(-rc, 0);
        }
        _claimed = false;
    }

    /// <summary>
    /// Reads records without waiting, until the socket is empty (EAGAIN) or
    /// <paramref name="maxRecords"/> have been handed to <paramref name="sink"/>.
    /// Draining to empty matters: the kernel keeps a socket "congested" until its queue is empty
    /// (docs/kernel-audit.md, "Delivery").
    /// </summary>
    public DrainResult Drain<TSink>(ref TSink sink, int maxRecords) where TSink : IAuditRecordSink, allows ref struct
    {
        int delivered = 0;
        while (_pending.Count > 0 && delivered < maxRecords)
        {
            var (type, text) = _pending.Dequeue();
            Deliver(ref sink, type, text);
            delivered++;
        }
        while (delivered < maxRecords)
        {
            int n = _ring.Receive(_socket, maxRecords - delivered);
            _calls++;
            if (n < 0)
            {
                int errno = -n;
                if (errno == Errno.EAGAIN)
                {
                    return new DrainResult(delivered, Empty: true);
                }
                if (errno == Errno.ENOBUFS)
                {
                    // The queue overflowed since the last read: records were dropped for us.
                    // The error is reported once and cleared; the queue still holds data.
                    Interlocked.Increment(ref _enobufs);
                    continue;
                }
                throw new AuditException(AuditErrorKind.Kernel, errno, $"receiving audit records failed: {ErrnoTable.NameOrNumber(errno)}");
            }
            if (n == 0)
            {
                return new DrainResult(delivered, Empty: true);
            }
            for (int i = 0; i < n; i++)
            {
                if (_ring.SenderPort(i) != 0)
                {
                    Interlocked.Increment(ref _foreign);
                    continue;
                }
                if (_ring.Truncated(i))
                {
                    Interlocked.Increment(ref _truncated);
                }
                var datagram = _ring.Datagram(i);
                if (datagram.Length < NLMSG_HDRLEN)
                {
                    Interlocked.Increment(ref _foreign);
                    continue;
                }
                ushort type = BinaryPrimitives.ReadUInt16LittleEndian(datagram.Slice(4));
                if (Classify(type, datagram.Slice(NLMSG_HDRLEN)))
                {
                    Deliver(ref sink, type, datagram.Slice(NLMSG_HDRLEN));
                    delivered++;
                }
            }
        }
        return new DrainResult(delivered, Empty: false);
    }

    /// <summary>Waits until records are readable or the timeout passes (poll).</summary>
    public bool WaitReadable(TimeSpan timeout) => _pending.Count > 0 || _socket.Poll(timeout);

    /// <summary>Counts control traffic; true for a record a sink should get.</summary>
    private bool Classify(ushort type, ReadOnlySpan<byte> body)
    {
        switch (type)
        {
            case (ushort)AuditMessageType.Replace:
                // Sent to the consumer by every claim; the payload is the 32-bit pid of the
                // claimant (docs/kernel-audit.md, "Claiming the consumer PID"). Count it; never yield.
                Interlocked.Increment(ref _replaces);
                if (body.Length >= 4)
                {
                    Volatile.Write(ref _lastReplacePid, BinaryPrimitives.ReadUInt32LittleEndian(body));
                }
                return false;
            case NLMSG_ERROR or NLMSG_DONE or NLMSG_NOOP or NLMSG_OVERRUN:
                return false;
            default:
                return true;
        }
    }

    private void Deliver<TSink>(ref TSink sink, ushort type, ReadOnlySpan<byte> text) where TSink : IAuditRecordSink, allows ref struct
    {
        // Records carry no trailing NUL on current kernels (docs/kernel-audit.md, "Framing"); some older
        // ones did, so strip any.
        int len = text.Length;
        while (len > 0 && text[len - 1] == 0)
        {
            len--;
        }
        text = text.Slice(0, len);
        _records++;
        _bytes += len;
        sink.OnRecord((AuditMessageType)type, text);
    }

    private void Stash(ushort type, ReadOnlySpan<byte> body)
    {
        if (!Classify(type, body))
        {
            return;
        }
        if (_pending.Count >= MaxPending)
        {
            Interlocked.Increment(ref _pendingDropped);
            return;
        }
        _pending.Enqueue((type, body.ToArray()));
    }

    public AuditReceiveCounters Counters => new()
    {
        Records = Volatile.Read(ref _records),
        Bytes = Volatile.Read(ref _bytes),
        ReceiveCalls = Volatile.Read(ref _calls),
        Enobufs = Volatile.Read(ref _enobufs),
        Truncated = Volatile.Read(ref _truncated),
        ReplaceRequests = Volatile.Read(ref _replaces),
        LastReplacePid = Volatile.Read(ref _lastReplacePid),
        Foreign = Volatile.Read(ref _foreign),
        PendingDropped = Volatile.Read(ref _pendingDropped),
    };

    /// <summary>Releases the consumer PID if held (best effort), then closes the socket.</summary>
    public void Dispose()
    {
        if (_claimed)
        {
            try
            {
                ReleaseConsumer();
            }
            catch (AuditException)
            {
                // Closing the socket unregisters us anyway: the kernel drops a consumer whose
                // socket is gone on its next send (docs/kernel-audit.md, "Claiming the consumer PID").
            }
        }
        _socket.Dispose();
        _ring.Dispose();
    }
}

/// <summary>The outcome of one drain.</summary>
/// <param name="Records">Records handed to the sink.</param>
/// <param name="Empty">True if the socket was read to empty (EAGAIN); false if the cap stopped it.</param>
public readonly record struct DrainResult(int Records, bool Empty);
