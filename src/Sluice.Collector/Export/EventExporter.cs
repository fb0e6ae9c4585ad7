using System.Text;
using System.Text.Json;
using Sluice.Audit.Tables;
using Sluice.Collector.Storage;
using Sluice.Protocol.Json;

namespace Sluice.Collector.Export;

/// <summary>Writes stored events as JSON Lines in the replay format, each with the agent, host and batch it came from.</summary>
internal static class EventExporter
{
    private static readonly JsonWriterOptions Options = new()
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>Returns the number of events written.</summary>
    public static async Task<long> ExportAsync(IEventStore store, EventQuery query, Stream output, CancellationToken cancellationToken)
    {
        long count = 0;
        using var buffer = new MemoryStream();
        using var writer = new Utf8JsonWriter(buffer, Options);
        await foreach (var stored in store.ReadEventsAsync(query, cancellationToken))
        {
            EventJsonWriter.Write(writer, stored.Event, AuditMessageTypeTable.NameOrUnknown);
            writer.Flush();
            // The replay object is complete; reopen it to add where the event came from.
            buffer.SetLength(buffer.Length - 1);
            buffer.Write(Encoding.UTF8.GetBytes(
                $",\"agent_id\":{JsonSerializer.Serialize(stored.AgentId)},\"hostname\":{JsonSerializer.Serialize(stored.Hostname)},\"batch_sequence\":{stored.Sequence}}}\n"));
            writer.Reset(buffer);
            if (buffer.Length >= 64 * 1024)
            {
                await FlushAsync(buffer, output, cancellationToken);
            }
            count++;
        }
        await FlushAsync(buffer, output, cancellationToken);
        await output.FlushAsync(cancellationToken);
        return count;
    }

    private static async Task FlushAsync(MemoryStream buffer, Stream output, CancellationToken ct)
    {
        await output.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), ct);
        buffer.SetLength(0);
    }
}
