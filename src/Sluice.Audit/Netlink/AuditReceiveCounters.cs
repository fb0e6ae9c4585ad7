namespace Sluice.Audit.Netlink;

/// <summary>What an <see cref="AuditEventSocket"/> has received and lost since it opened.</summary>
public readonly record struct AuditReceiveCounters
{
    /// <summary>Records handed to a sink.</summary>
    public long Records { get; init; }

    /// <summary>Bytes of record text handed to a sink.</summary>
    public long Bytes { get; init; }

    /// <summary>recvmmsg/recv calls made by drains.</summary>
    public long ReceiveCalls { get; init; }

    /// <summary>
    /// ENOBUFS from recv: the socket overran. The kernel reports it once per overrun, not per record
    /// dropped (those are <see cref="SocketMemoryInfo.Drops"/>); see docs/loss-model.md.
    /// </summary>
    public long Enobufs { get; init; }

    /// <summary>Records cut short because they did not fit a receive slot (MSG_TRUNC).</summary>
    public long Truncated { get; init; }

    /// <summary>AUDIT_REPLACE messages: another process tried to claim the consumer PID.</summary>
    public long ReplaceRequests { get; init; }

    /// <summary>The PID named in the latest AUDIT_REPLACE, or 0.</summary>
    public uint LastReplacePid { get; init; }

    /// <summary>Datagrams not from the kernel (sender port ≠ 0), ignored.</summary>
    public long Foreign { get; init; }

    /// <summary>Records that arrived while a request awaited its ACK and did not fit the pending queue.</summary>
    public long PendingDropped { get; init; }
}

/// <summary>The socket's receive queue as the kernel reports it (SO_MEMINFO).</summary>
/// <param name="QueuedBytes">Bytes (skb truesize) waiting in the receive queue.</param>
/// <param name="ReceiveBuffer">The receive buffer limit in bytes.</param>
/// <param name="Drops">Datagrams the kernel could not queue because the buffer was full (sk_drops): the agent's socket overruns.</param>
public readonly record struct SocketMemoryInfo(uint QueuedBytes, uint ReceiveBuffer, uint Drops)
{
    /// <summary>Queued bytes as a fraction of the buffer, 0..1.</summary>
    public double Fill => ReceiveBuffer == 0 ? 0 : (double)QueuedBytes / ReceiveBuffer;
}
