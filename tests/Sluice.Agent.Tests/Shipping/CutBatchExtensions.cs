using Google.Protobuf;
using Sluice.Agent.Shipping;
using Sluice.Protocol.V1;

// In the tests' root namespace: the batcher's and the spool's tests both read cut batches whole.
namespace Sluice.Agent.Tests;

internal static class CutBatchExtensions
{
    /// <summary>The whole batch as a message: the header with the events parsed into it.</summary>
    public static EventBatch ToEventBatch(this CutBatch batch)
    {
        var whole = batch.Header.Clone();
        whole.MergeFrom(batch.Events.Span);
        return whole;
    }
}
