using System.Buffers;

namespace Sluice.Agent.Spool;

/// <summary>
/// One batch read back from the spool: its sequence, event count and serialized EventBatch.
/// Ownership: <see cref="DiskSpool.TryRead"/> rents <c>_buffer</c> from <see cref="ArrayPool{T}.Shared"/>
/// and hands it to the caller with the entry; the caller disposes the entry exactly once, when it
/// no longer needs <see cref="Payload"/> (after the ack, or after quarantine), which returns the buffer.
/// </summary>
internal sealed class SpoolEntry : IDisposable
{
    private byte[]? _buffer;
    private readonly int _offset;
    private readonly int _length;

    internal SpoolEntry(ulong sequence, int eventCount, byte[] buffer, int offset, int length)
    {
        Sequence = sequence;
        EventCount = eventCount;
        _buffer = buffer;
        _offset = offset;
        _length = length;
    }

    public ulong Sequence { get; }

    public int EventCount { get; }

    /// <summary>The serialized <c>sluice.v1.EventBatch</c>, exactly as it goes on the wire.</summary>
    public ReadOnlyMemory<byte> Payload => new(_buffer ?? throw new ObjectDisposedException(nameof(SpoolEntry)), _offset, _length);

    public void Dispose()
    {
        var buffer = Interlocked.Exchange(ref _buffer, null);
        if (buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
