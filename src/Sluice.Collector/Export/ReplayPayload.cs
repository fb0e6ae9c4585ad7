using System.Text;
using System.Text.Json;
using Sluice.Audit.Tables;
using Sluice.Collector.Storage;
using Sluice.Protocol.Json;

namespace Sluice.Collector.Export;

/// <summary>
/// One stored event in the replay JSON format with where it came from (<c>agent_id</c>, <c>hostname</c>,
/// <c>batch_sequence</c>): the line <c>export</c> writes and the payload the stream publishes.
/// </summary>
internal static class ReplayPayload
{
    public static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>Appends the event's JSON object (no newline) to <paramref name="buffer"/>; <paramref name="writer"/> writes into it.</summary>
    public static void Append(MemoryStream buffer, Utf8JsonWriter writer, StoredEvent stored)
    {
        writer.Reset(buffer);
        EventJsonWriter.Write(writer, stored.Event, AuditMessageTypeTable.NameOrUnknown);
        writer.Flush();
        // The replay object is complete; reopen it to add where the event came from.
        buffer.SetLength(buffer.Length - 1);
        buffer.Write(Encoding.UTF8.GetBytes(
            $",\"agent_id\":{JsonSerializer.Serialize(stored.AgentId)},\"hostname\":{JsonSerializer.Serialize(stored.Hostname)},\"batch_sequence\":{stored.Sequence}}}"));
    }
}
