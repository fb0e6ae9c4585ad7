namespace Sluice.Collector.Ingest;

/// <summary>What the collector accepts in one batch. A batch beyond any limit is refused whole.</summary>
public sealed record IngestLimits
{
    /// <summary>Largest gRPC message, after decompression (gRPC's MaxReceiveMessageSize: ResourceExhausted beyond).</summary>
    public int MaxMessageBytes { get; init; } = 16 * 1024 * 1024;

    public int MaxEventsPerBatch { get; init; } = 50_000;

    /// <summary>A 3000-argument execve spans a few dozen EXECVE records; 4096 leaves room for PATH-heavy events.</summary>
    public int MaxRecordsPerEvent { get; init; } = 4096;

    /// <summary>kauditd sends at most 8970 bytes per record (MAX_AUDIT_MESSAGE_LENGTH); a node= prefix adds a little.</summary>
    public int MaxRecordBytes { get; init; } = 16 * 1024;

    public int MaxAgentIdLength { get; init; } = 128;

    public int MaxHostnameLength { get; init; } = 255;

    /// <summary>Events stamped further than this ahead of the collector's clock are refused (a broken clock, not a fact to index).</summary>
    public TimeSpan MaxClockSkewAhead { get; init; } = TimeSpan.FromDays(1);

    public void Validate()
    {
        if (MaxMessageBytes < 1024) throw new ArgumentOutOfRangeException(nameof(MaxMessageBytes), MaxMessageBytes, "must be at least 1024");
        if (MaxEventsPerBatch < 1) throw new ArgumentOutOfRangeException(nameof(MaxEventsPerBatch), MaxEventsPerBatch, "must be at least 1");
        if (MaxRecordsPerEvent < 1) throw new ArgumentOutOfRangeException(nameof(MaxRecordsPerEvent), MaxRecordsPerEvent, "must be at least 1");
        if (MaxRecordBytes < 64) throw new ArgumentOutOfRangeException(nameof(MaxRecordBytes), MaxRecordBytes, "must be at least 64");
    }
}
