using Sluice.Audit.Tables;

namespace Sluice.Audit.Netlink;

/// <summary>Receives records from <see cref="AuditEventSocket.Drain{TSink}"/>.</summary>
/// <remarks>
/// <paramref name="text"/> points into the socket's receive ring and is valid only during the
/// call: copy what you keep. Implement it on a struct to let the drain loop inline the call.
/// </remarks>
public interface IAuditRecordSink
{
    /// <summary>One kernel record: its message type and its text (no netlink header, no trailing NUL).</summary>
    void OnRecord(AuditMessageType type, ReadOnlySpan<byte> text);
}
