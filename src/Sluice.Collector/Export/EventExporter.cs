using System.Text.Json;
using Sluice.Collector.Storage;

namespace Sluice.Collector.Export;

/// <summary>What <c>export</c> writes for each event.</summary>
internal enum ExportFormat
{
    /// <summary>The replay JSON with <c>agent_id</c>, <c>hostname</c> and <c>batch_sequence</c>.</summary>
    Replay,
    /// <summary>One OCSF object (<see cref="OcsfEvent"/>).</summary>
    Ocsf,
}

/// <summary>Writes stored events as JSON Lines, each with the agent, host and batch it came from: the replay format or OCSF.</summary>
internal static class EventExporter
{
    /// <summary><c>--format</c>'s values.</summary>
    public static ExportFormat ParseFormat(string value) => value switch
    {
        "replay" => ExportFormat.Replay,
        "ocsf" => ExportFormat.Ocsf,
        _ => throw new FormatException($"--format '{value}': expected replay or ocsf"),
    };

    /// <summary>Returns the number of events written.</summary>
    public static async Task<long> ExportAsync(IEventStore store, EventQuery query, Stream output, CancellationToken cancellationToken,
        ExportFormat format = ExportFormat.Replay)
    {
        long count = 0;
        using var buffer = new MemoryStream();
        using var writer = new Utf8JsonWriter(buffer, ReplayPayload.WriterOptions);
        await foreach (var stored in store.ReadEventsAsync(query, cancellationToken))
        {
            if (format == ExportFormat.Ocsf)
            {
                writer.Reset(buffer);
                OcsfEvent.Write(writer, stored);
                writer.Flush();
            }
            else
            {
                ReplayPayload.Append(buffer, writer, stored);
            }
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
