using Google.Protobuf;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Storage;

/// <summary>One event ready to insert: its search columns and its serialized payload.</summary>
/// <remarks>Built on the calling (gRPC) thread, so that a store's single writer only binds and steps.</remarks>
internal readonly record struct EventRow(Event Event, EventSummary Summary, byte[] Payload)
{
    public static EventRow[] From(EventBatch batch)
    {
        var rows = new EventRow[batch.Events.Count];
        for (int i = 0; i < rows.Length; i++)
        {
            var e = batch.Events[i];
            rows[i] = new EventRow(e, EventSummary.From(e), e.ToByteArray());
        }
        return rows;
    }
}
