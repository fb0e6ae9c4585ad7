namespace Sluice.Audit.Records;

/// <summary>Limits and timing of an <see cref="AuditReassembler"/>.</summary>
public sealed class AuditReassemblerOptions
{
    /// <summary>How long an event may wait for its end (auditd's default: 2 s).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Most events in flight; beyond it the oldest is completed early (evicted).</summary>
    public int MaxInFlightEvents { get; init; } = 4096;

    /// <summary>Most bytes of record text in flight; beyond it the oldest events are evicted.</summary>
    public long MaxInFlightBytes { get; init; } = 32L * 1024 * 1024;

    /// <summary>Longest record accepted. The kernel sends at most 8970 bytes (MAX_AUDIT_MESSAGE_LENGTH: docs/kernel-audit.md, "Framing"); log lines with an enriched suffix are longer.</summary>
    public int MaxRecordBytes { get; init; } = 64 * 1024;

    /// <summary>
    /// Width of the window, in serials below the highest seen, in which a serial that arrives late
    /// still fills its gap instead of being counted missing.
    /// </summary>
    public int SerialWindow { get; init; } = 4096;

    /// <summary>Most distinct <c>node=</c> names (log files of several hosts); records of further nodes are rejected.</summary>
    public int MaxNodes { get; init; } = 1024;

    internal void Validate()
    {
        if (Timeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(Timeout), Timeout, "the reassembly timeout must be positive");
        }
        if (MaxInFlightEvents < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxInFlightEvents), MaxInFlightEvents, "at least one event must be allowed in flight");
        }
        if (MaxRecordBytes < 256)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxRecordBytes), MaxRecordBytes, "records up to at least 256 bytes must be accepted");
        }
        if (MaxInFlightBytes < MaxRecordBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxInFlightBytes), MaxInFlightBytes, "in-flight bytes must hold at least one record of MaxRecordBytes");
        }
        if (SerialWindow < 64 || SerialWindow > 1 << 20 || (SerialWindow & (SerialWindow - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(SerialWindow), SerialWindow, "the serial window must be a power of two between 64 and 2^20");
        }
        if (MaxNodes < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxNodes), MaxNodes, "at least one node must be allowed");
        }
    }
}
