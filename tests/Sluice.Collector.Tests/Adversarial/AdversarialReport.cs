using System.Net;
using System.Text;
using System.Text.Json;
using Grpc.Net.Client;
using Sluice.Collector.Hosting;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Tests.Adversarial;

/// <summary>What the report and dashboard adversarial tests share: the collector's API, batches cut every ten minutes, and reading report CSV.</summary>
internal static class AdversarialReport
{

    /// <summary>
    /// Batch <paramref name="seq"/> of an agent that cuts one every ten minutes from <paramref name="t0"/>: its events from
    /// the interval's start, the interval, cut at its end, with the <paramref name="loss"/> it reports.
    /// </summary>
    public static EventBatch TenMinuteBatch(long t0, string agent, ulong seq, int events, long firstSerial, LossCounters loss, long stepMs = 10)
    {
        const long TenMinutes = 600_000;
        long start = t0 + (long)(seq - 1) * TenMinutes;
        var batch = TestEvents.Batch(agent, seq, events, firstSerial, start, stepMs);
        batch.IntervalStartUnixMs = start;
        batch.IntervalEndUnixMs = start + TenMinutes;
        batch.CreatedUnixMs = start + TenMinutes;
        batch.Loss = loss;
        return batch;
    }

    /// <summary>Sends batches and heartbeats through the collector's gRPC ingest, each acknowledged as new.</summary>
    public static async Task SendAsync(CollectorServer server, IEnumerable<EventBatch> batches, IEnumerable<AgentHeartbeat>? heartbeats = null)
    {
        using var channel = GrpcChannel.ForAddress(server.Address);
        var client = new Sluice.Protocol.V1.Ingest.IngestClient(channel);
        foreach (var batch in batches)
        {
            var ack = await client.SendAsync(batch);
            Assert.False(ack.Duplicate);
        }
        foreach (var hb in heartbeats ?? [])
        {
            await client.HeartbeatAsync(hb);
        }
    }

    /// <summary>GET on the collector's HTTP/1.1 port, as a browser does: the status and the JSON body.</summary>
    public static async Task<(HttpStatusCode Status, JsonElement Body)> GetAsync(CollectorServer server, string pathAndQuery)
    {
        using var http = new HttpClient { DefaultRequestVersion = HttpVersion.Version11, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using var response = await http.GetAsync(new Uri(server.Address, pathAndQuery));
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return (response.StatusCode, doc.RootElement.Clone());
    }

    /// <summary>The fleet row of one agent.</summary>
    public static JsonElement FleetHost(JsonElement fleet, string agent) =>
        fleet.GetProperty("hosts").EnumerateArray().Single(h => h.GetProperty("agent_id").GetString() == agent);

    /// <summary>Every number in a JSON document: none may be negative.</summary>
    public static IEnumerable<(string Path, decimal Value)> Numbers(JsonElement e, string path = "$")
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Number:
                yield return (path, e.GetDecimal());
                break;
            case JsonValueKind.Object:
                foreach (var p in e.EnumerateObject())
                {
                    foreach (var n in Numbers(p.Value, path + "." + p.Name)) yield return n;
                }
                break;
            case JsonValueKind.Array:
                int i = 0;
                foreach (var item in e.EnumerateArray())
                {
                    foreach (var n in Numbers(item, $"{path}[{i++}]")) yield return n;
                }
                break;
        }
    }

    /// <summary>One RFC 4180 table as rows of cells (header first).</summary>
    public static List<List<string>> ParseCsv(string text)
    {
        var rows = new List<List<string>>();
        var row = new List<string>();
        var cell = new StringBuilder();
        bool quoted = false;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"') { cell.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else cell.Append(c);
            }
            else if (c == '"') quoted = true;
            else if (c == ',') { row.Add(cell.ToString()); cell.Clear(); }
            else if (c == '\r') { }
            else if (c == '\n') { row.Add(cell.ToString()); cell.Clear(); rows.Add(row); row = []; }
            else cell.Append(c);
        }
        return rows;
    }

    /// <summary>The row of <paramref name="agent"/> in a CSV table whose first column is the agent, by column name.</summary>
    public static Dictionary<string, string> CsvRow(string text, string agent)
    {
        var rows = ParseCsv(text);
        var row = rows.Skip(1).Single(r => r[0] == agent);
        return rows[0].Zip(row).ToDictionary(x => x.First, x => x.Second);
    }
}
