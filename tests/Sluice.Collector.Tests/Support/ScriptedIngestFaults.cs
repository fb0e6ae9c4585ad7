using System.Collections.Concurrent;
using Grpc.Core;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Tests.Support;

public enum IngestFaultKind
{
    None,
    /// <summary>Wait <see cref="IngestFault.Delay"/>, then handle the batch normally (a slow collector).</summary>
    Delay,
    /// <summary>Answer <see cref="IngestFault.Code"/> without storing (Unavailable, Internal, ResourceExhausted, ...).</summary>
    FailBeforeStore,
    /// <summary>Store the batch, then answer <see cref="IngestFault.Code"/>: the ack is lost, and the agent will resend.</summary>
    FailAfterStore,
    /// <summary>Cut the HTTP/2 connection without storing: every call on it, streams included, fails mid-way.</summary>
    Abort,
}

public sealed record IngestFault(IngestFaultKind Kind, StatusCode Code = StatusCode.Unavailable, TimeSpan Delay = default)
{
    public static readonly IngestFault None = new(IngestFaultKind.None);
}

/// <summary>
/// Faults for the next batches a real collector receives, in order; once the queue is empty, none.
/// <see cref="IngestFaultInterceptor"/> applies them (<see cref="CollectorHarness.StartAsync"/> registers it).
/// </summary>
public sealed class ScriptedIngestFaults
{
    private readonly ConcurrentQueue<IngestFault> _script = new();
    private int _applied;

    /// <summary>Faults applied so far (not counting <see cref="IngestFaultKind.None"/>).</summary>
    public int Applied => Volatile.Read(ref _applied);

    public ScriptedIngestFaults Then(IngestFault fault, int times = 1)
    {
        for (int i = 0; i < times; i++)
        {
            _script.Enqueue(fault);
        }
        return this;
    }

    /// <summary>The fault for this batch; <see cref="IngestFault.None"/> for none. Called once per batch received.</summary>
    public IngestFault Next(EventBatch batch)
    {
        if (_script.TryDequeue(out var fault))
        {
            if (fault.Kind != IngestFaultKind.None)
            {
                Interlocked.Increment(ref _applied);
            }
            return fault;
        }
        return IngestFault.None;
    }
}
