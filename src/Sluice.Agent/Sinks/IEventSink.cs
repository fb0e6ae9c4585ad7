using Sluice.Protocol.V1;

namespace Sluice.Agent.Sinks;

/// <summary>Where kept events end up: a JSON Lines file, stdout, or the spool for the collector.</summary>
internal interface IEventSink : IDisposable
{
    /// <summary>Takes one event. Must not block on the network: a slow destination buffers or spools.</summary>
    void Write(Event e);

    /// <summary>Makes what was written durable or visible (called after every drain).</summary>
    void Flush();
}
