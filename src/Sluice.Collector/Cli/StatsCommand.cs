using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Sluice.Collector.Storage;
using Sluice.Collector.Storage.Retention;

namespace Sluice.Collector.Cli;

/// <summary><c>sluice-collector stats</c>: per agent batches, events, duplicates, last seen, loss and delivery (<see cref="DeliveryFacts"/>).</summary>
internal static class StatsCommand
{
    public static Command Create()
    {
        var store = CliOptions.Store();
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table." };
        var command = new Command("stats", "Per agent: batches and events stored, duplicates rejected, last seen, loss reported, delivery gaps, refusals, epochs.");
        command.Options.Add(store);
        command.Options.Add(json);
        command.SetAction((parse, ct) => RunAsync(parse.GetValue(store)!, parse.GetValue(json), Console.Out, Console.Error, ct));
        return command;
    }

    internal static async Task<int> RunAsync(string storeSpec, bool json, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        IReadOnlyList<AgentStats> stats;
        IReadOnlyList<DeliveryFacts> delivery;
        RetainedRange? retained;
        try
        {
            await using var store = await CliOptions.OpenExistingAsync(storeSpec, ct);
            stats = await store.GetAgentStatsAsync(ct);
            delivery = await store.GetDeliveryFactsAsync(new DeliveryQuery(), ct);
            retained = store is IRetentionStore r ? await r.GetRetainedRangeAsync(ct) : null;
        }
        catch (Exception e) when (e is FormatException or IOException or Npgsql.NpgsqlException or Microsoft.Data.Sqlite.SqliteException or InvalidOperationException)
        {
            stderr.WriteLine($"sluice-collector stats: {e.Message}");
            return e is FormatException ? 2 : 1;
        }
        stdout.Write(json ? ToJson(stats, delivery, retained) : ToText(stats, delivery) + Retained(retained));
        return 0;
    }

    /// <summary>Each agent's delivery facts by id; an agent without any gets the empty ones.</summary>
    private static Func<string, DeliveryFacts> Facts(IReadOnlyList<DeliveryFacts>? delivery)
    {
        var byAgent = (delivery ?? []).ToDictionary(d => d.AgentId, StringComparer.Ordinal);
        return agent => byAgent.TryGetValue(agent, out var d) ? d : new DeliveryFacts { AgentId = agent };
    }

    internal static string ToJson(IReadOnlyList<AgentStats> stats, IReadOnlyList<DeliveryFacts>? delivery = null, RetainedRange? retained = null)
    {
        var facts = Facts(delivery);
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            if (retained is not null)
            {
                WriteRetained(w, retained);
            }
            w.WriteStartArray("agents");
            foreach (var a in stats)
            {
                w.WriteStartObject();
                w.WriteString("agent_id", a.AgentId);
                w.WriteString("hostname", a.Hostname);
                w.WriteString("boot_id", a.BootId);
                w.WriteNumber("batches", a.Batches);
                w.WriteNumber("events", a.Events);
                w.WriteNumber("duplicates", a.Duplicates);
                w.WriteNumber("max_sequence", a.MaxSequence);
                CliText.WriteTime(w, "last_seen", a.LastSeenUnixMs);
                CliText.WriteTime(w, "last_heartbeat", a.LastHeartbeatUnixMs);
                w.WriteString("rules_hash", a.RulesHash);
                w.WriteNumber("time_adjusted_events", a.TimeAdjustedEvents);
                var d = facts(a.AgentId);
                w.WriteNumber("epochs", d.Epochs);
                w.WriteNumber("delivery_gaps", d.DeliveryGaps);
                w.WriteNumber("refused_batches", d.RefusedBatches);
                w.WriteNumber("refused_events", d.RefusedEvents);
                w.WriteNumber("conflicts", d.Conflicts);
                w.WriteBoolean("interleaved_epochs", d.InterleavedEpochs);
                w.WriteBoolean("interleaved_boot_ids", d.InterleavedBootIds);
                w.WriteStartObject("delivery");
                w.WriteString("latest_epoch", d.LatestEpoch);
                w.WriteNumber("missing_sequences", d.MissingSequences);
                w.WriteNumber("explained_by_agent", d.ExplainedByAgent);
                w.WriteNumber("refusals_unrecorded", d.RefusalsUnrecorded);
                w.WriteStartArray("gap_ranges");
                foreach (var g in d.Gaps)
                {
                    w.WriteStartObject();
                    w.WriteString("epoch", g.Epoch);
                    w.WriteNumber("from", g.From);
                    w.WriteNumber("to", g.To);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
                w.WriteStartObject("loss");
                w.WriteNumber("total_lost", a.Loss.TotalLost);
                var values = LossColumns.Values(a.Loss);
                for (int i = 0; i < LossColumns.Names.Length; i++)
                {
                    w.WriteNumber(LossColumns.Names[i], values[i]);
                }
                w.WriteEndObject();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    internal static string ToText(IReadOnlyList<AgentStats> stats, IReadOnlyList<DeliveryFacts>? delivery = null)
    {
        var facts = Facts(delivery);
        if (stats.Count == 0)
        {
            return "no agents\n";
        }
        var rows = new List<string[]>
        {
            new[]
            {
                "AGENT", "HOST", "BATCHES", "EVENTS", "DUPLICATES", "LAST SEEN (UTC)", "LOST", "KERNEL", "OVERRUN", "GAPS", "SPOOL", "EVICTED", "TIME ADJUSTED",
                "EPOCHS", "DELIVERY GAPS", "REFUSED", "REFUSED EVENTS", "CONFLICTS", "INTERLEAVED",
            },
        };
        foreach (var a in stats)
        {
            var d = facts(a.AgentId);
            string interleaved = (d.InterleavedEpochs, d.InterleavedBootIds) switch
            {
                (true, true) => "epochs,boot-ids",
                (true, false) => "epochs",
                (false, true) => "boot-ids",
                _ => "-",
            };
            rows.Add(
            [
                a.AgentId, a.Hostname, N(a.Batches), N(a.Events), N(a.Duplicates),
                a.LastSeenUnixMs is long ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms).ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) : "-",
                N(a.Loss.TotalLost), N(a.Loss.KernelLost), N(a.Loss.SocketOverruns), N(a.Loss.SerialGaps), N(a.Loss.SpoolDroppedEvents), N(a.Loss.ReassemblyEvicted), N(a.TimeAdjustedEvents),
                N(d.Epochs), N(d.DeliveryGaps), N(d.RefusedBatches), N(d.RefusedEvents), N(d.Conflicts), interleaved,
            ]);
        }
        var widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        var sb = new System.Text.StringBuilder();
        foreach (var r in rows)
        {
            sb.AppendJoin("  ", r.Select((cell, c) => c >= 2 && c != 5 && c != r.Length - 1 ? cell.PadLeft(widths[c]) : cell.PadRight(widths[c]))).Append('\n');
        }
        return sb.ToString().Replace(" \n", "\n", StringComparison.Ordinal);
    }

    private static string N(long v) => v.ToString(CultureInfo.InvariantCulture);

    /// <summary>"retained": the oldest and newest stored event time, and the last prune (null when there was none).</summary>
    private static void WriteRetained(Utf8JsonWriter w, RetainedRange r)
    {
        w.WriteStartObject("retained");
        CliText.WriteTime(w, "oldest_event", r.OldestEventUnixMs);
        CliText.WriteTime(w, "newest_event", r.NewestEventUnixMs);
        if (r.LastPrune is { } p)
        {
            w.WriteStartObject("last_prune");
            CliText.WriteTime(w, "time", p.StartedUnixMs);
            CliText.WriteTime(w, "cutoff", p.CutoffUnixMs);
            w.WriteNumber("older_than_days", p.OlderThanDays);
            w.WriteNumber("days", p.Days);
            w.WriteNumber("events", p.Events);
            w.WriteString("host", p.Host);
            w.WriteString("user", p.User);
            w.WriteString("status", p.Status);
            w.WriteEndObject();
        }
        else
        {
            w.WriteNull("last_prune");
        }
        w.WriteEndObject();
    }

    /// <summary>The retained range under the table: what the store keeps, and the last prune.</summary>
    private static string Retained(RetainedRange? r)
    {
        if (r is null)
        {
            return "";
        }
        string events = r.OldestEventUnixMs is long oldest && r.NewestEventUnixMs is long newest
            ? $"events from {Time(oldest)} to {Time(newest)}"
            : "no events";
        string prune = r.LastPrune is { } p
            ? $"last prune {Time(p.StartedUnixMs)}: events before {Time(p.CutoffUnixMs)} (older than {p.OlderThanDays} days), {p.Events} events removed, {p.Status}"
            : "never pruned";
        return $"\nretained: {events}; {prune}\n";
    }

    private static string Time(long unixMs) =>
        DateTimeOffset.FromUnixTimeMilliseconds(unixMs).ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + " UTC";
}
