using System.Text.Json;
using Sluice.Collector.Storage;

namespace Sluice.Collector.Export;

/// <summary>Writes stored events as JSON Lines in the replay format, each with the agent, host and batch it came from.</summary>
internal static class EventExporter
{
    /// <summary>Returns the number of events written.</summary>
    public static async Task<long> ExportAsync(IEventStore store, EventQuery query, Stream output, CancellationToken cancellationToken)
    {
        long count = 0;
        using var buffer = new MemoryStream();
        using var writer = new Utf8JsonWriter(buffer, ReplayPayload.WriterOptions);
        await foreach (var stored in store.ReadEventsAsync(query, cancellationToken))
        {
            ReplayPayload.Append(buffer, writer, stored);
            buffer.WriteByte((byte)'\n');
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
