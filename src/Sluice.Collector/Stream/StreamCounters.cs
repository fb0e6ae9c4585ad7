namespace Sluice.Collector.Streaming;

/// <summary>What the event stream did since start; served at <c>/api/ingest</c> (<c>stream_*</c>) and <c>/metrics</c> (<c>sluice_stream_*</c>).</summary>
/// <remarks>
/// Every event offered is either dropped at once (<see cref="DroppedBufferFull"/>) or enqueued; every event
/// enqueued ends as published, duplicate, dropped at shutdown or unwritable, or is still buffered:
/// enqueued = published + duplicates + dropped_shutdown + dropped_unwritable + buffered.
/// </remarks>
internal sealed class StreamCounters
{
    private long _enqueued;
    private long _published;
    private long _duplicates;
    private long _droppedBufferFull;
    private long _droppedShutdown;
    private long _droppedUnwritable;
    private long _publishFailures;
    private long _buffered;
    private int _connected;

    /// <summary>Events taken into the buffer.</summary>
    public long Enqueued => Volatile.Read(ref _enqueued);

    /// <summary>Events the stream acknowledged as stored.</summary>
    public long Published => Volatile.Read(ref _published);

    /// <summary>Events the stream acknowledged as duplicates: their message id was in its duplicate window (a resend, or a retried publish that had landed).</summary>
    public long Duplicates => Volatile.Read(ref _duplicates);

    /// <summary>Events left out of the stream because the buffer stayed full for the whole bounded wait (still stored and acknowledged).</summary>
    public long DroppedBufferFull => Volatile.Read(ref _droppedBufferFull);

    /// <summary>Events still buffered when the collector stopped and the flush timed out.</summary>
    public long DroppedShutdown => Volatile.Read(ref _droppedShutdown);

    /// <summary>Events whose payload could not be written (a failure of the OCSF mapping, for instance).</summary>
    public long DroppedUnwritable => Volatile.Read(ref _droppedUnwritable);

    public long Dropped => DroppedBufferFull + DroppedShutdown + DroppedUnwritable;

    /// <summary>Publish attempts that failed (no acknowledgement in time, no stream, connection lost); each is retried.</summary>
    public long PublishFailures => Volatile.Read(ref _publishFailures);

    /// <summary>Events in the buffer or being published now.</summary>
    public long Buffered => Volatile.Read(ref _buffered);

    /// <summary>True while the connection to the NATS server is open.</summary>
    public bool Connected => Volatile.Read(ref _connected) != 0;

    internal void Enqueue() { Interlocked.Increment(ref _enqueued); Interlocked.Increment(ref _buffered); }
    internal void Unenqueue() { Interlocked.Decrement(ref _enqueued); Interlocked.Decrement(ref _buffered); }
    internal void Acknowledged(bool duplicate)
    {
        Interlocked.Increment(ref duplicate ? ref _duplicates : ref _published);
        Interlocked.Decrement(ref _buffered);
    }
    internal void DropBufferFull(int events) => Interlocked.Add(ref _droppedBufferFull, events);
    internal void DropShutdown() { Interlocked.Increment(ref _droppedShutdown); Interlocked.Decrement(ref _buffered); }
    internal void DropUnwritable() { Interlocked.Increment(ref _droppedUnwritable); Interlocked.Decrement(ref _buffered); }
    internal void PublishFailed() => Interlocked.Increment(ref _publishFailures);
    internal void SetConnected(bool connected) => Volatile.Write(ref _connected, connected ? 1 : 0);
}
