using Sluice.Audit.Netlink;
using Sluice.Audit.Records;
using Sluice.Audit.Tables;

namespace Sluice.Audit.Tests.Records;

/// <summary>Feeds <see cref="AuditEventSocket.Drain{TSink}"/>'s records to a reassembler, as the agent's pipeline does.</summary>
internal readonly struct ReassemblerSink : IAuditRecordSink
{
    private readonly AuditReassembler _reassembler;

    public ReassemblerSink(AuditReassembler reassembler) => _reassembler = reassembler;

    public void OnRecord(AuditMessageType type, ReadOnlySpan<byte> text) => _reassembler.Add(type, text);
}
