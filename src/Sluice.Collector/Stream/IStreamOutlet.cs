using Sluice.Protocol.V1;

// Streaming, not Stream: the collector's code names System.IO.Stream unqualified, and a namespace
// Sluice.Collector.Stream would hide it there.
namespace Sluice.Collector.Streaming;

/// <summary>Where the ingest service hands a batch once the store holds it (stored now, or a resend of one stored before).</summary>
internal interface IStreamOutlet
{
    /// <summary>
    /// Takes the batch's events for publishing, waiting at most the configured bound for room; what does not fit
    /// by then is dropped from the stream and counted. Never throws: the batch is stored, and its acknowledgement
    /// must not depend on the stream.
    /// </summary>
    ValueTask OfferAsync(EventBatch batch, CancellationToken cancellationToken);
}

/// <summary>No <c>--stream</c>: nothing to do.</summary>
internal sealed class NoStream : IStreamOutlet
{
    public static readonly NoStream Instance = new();

    public ValueTask OfferAsync(EventBatch batch, CancellationToken cancellationToken) => ValueTask.CompletedTask;
}
