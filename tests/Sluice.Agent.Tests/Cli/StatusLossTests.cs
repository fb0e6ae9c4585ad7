using System.Text.Json;
using Sluice.Agent.Cli;
using Sluice.Agent.Monitoring;
using Sluice.Agent.Spool;

namespace Sluice.Agent.Tests.Cli;

/// <summary>The delivery path's loss kinds in <c>sluice-agent status</c>: text, <c>--watch</c> (both shapes), JSON, and the total.</summary>
public sealed class StatusLossTests
{
    private static readonly DateTimeOffset Started = new(2026, 11, 25, 10, 0, 0, TimeSpan.Zero);

    private static MetricsSnapshot Snapshot() => new()
    {
        StartedUtc = Started,
        Mode = "unicast",
        Events = 1000,
        KernelLost = 1,
        SocketOverruns = 2,
        SerialGaps = 3,
        ReassemblyEvicted = 4,
        Spool = new SpoolCounters
        {
            AckedEvents = 900,
            DroppedBatches = 5,
            DroppedEvents = 50,
            QuarantinedBatches = 6,
            QuarantinedEvents = 60,
            QuarantineTrimmedBatches = 2,
            QuarantineTrimmedEvents = 20,
            CorruptBatches = 7,
            CorruptEvents = 70,
            Epoch = "00112233445566778899aabbccddeeff",
            EpochStartSequence = 41,
            NextSequence = 57,
        },
    };

    [Fact]
    public void TotalLoss_CountsEachEventOnce_TrimsNotAdded()
    {
        // kernel 1 + socket 2 + gaps 3 + evicted 4 + spool dropped 50 + quarantined 60 + corrupt 70;
        // the 20 trimmed events are among the 60 quarantined.
        Assert.Equal(190, Snapshot().TotalLoss);
        Assert.Equal(50, Snapshot().SpoolDroppedEvents);
    }

    [Fact]
    public void FormatFrame_ShowsEveryDeliveryLossKindAndTheEpoch()
    {
        var frame = StatusCommand.FormatFrame(Snapshot(), Started.AddMinutes(1));
        string text = string.Join('\n', frame);

        Assert.Contains("190 total", text);
        Assert.Contains("spool_dropped 50  evicted 4  quarantined 60 (6 batches)  spool_corrupt 70 (7 batches)  quarantine_trimmed 20 (2 batches, not in the total)", text);
        Assert.Contains("epoch 00112233445566778899aabbccddeeff since sequence 41", text);
    }

    [Fact]
    public void FormatLine_KeyValuePairsForEachKind()
    {
        string line = StatusCommand.FormatLine(Snapshot(), Started.AddMinutes(1));
        var fields = line.Split(' ').Skip(1).Select(f => f.Split('=')).ToDictionary(f => f[0], f => f[1]);

        Assert.Equal("50", fields["spool_dropped"]);
        Assert.Equal("5", fields["spool_dropped_batches"]);
        Assert.Equal("60", fields["quarantined"]);
        Assert.Equal("6", fields["quarantined_batches"]);
        Assert.Equal("20", fields["quarantine_trimmed"]);
        Assert.Equal("2", fields["quarantine_trimmed_batches"]);
        Assert.Equal("70", fields["spool_corrupt"]);
        Assert.Equal("7", fields["spool_corrupt_batches"]);
        Assert.Equal("00112233445566778899aabbccddeeff", fields["epoch"]);
        Assert.Equal("190", fields["loss_total"]);
    }

    [Fact]
    public void WriteAgent_TextNamesEachKind()
    {
        var o = new StringWriter();
        StatusCommand.WriteAgent(o, Snapshot());
        string text = o.ToString();

        Assert.Contains("spool_dropped 50 (5 batches), quarantined 60 (6 batches), spool_corrupt 70 (7 batches), quarantine_trimmed 20 (2 batches, not in the total), truncated 0, total 190", text);
        Assert.Contains("epoch 00112233445566778899aabbccddeeff since sequence 41, next sequence 57", text);
    }

    [Fact]
    public void Json_CarriesEveryKindTheTotalAndTheEpoch()
    {
        var json = JsonDocument.Parse(JsonSerializer.Serialize(Snapshot(), Sluice.Agent.Status.StatusJson.Default.MetricsSnapshot)).RootElement;
        var spool = json.GetProperty("spool");

        Assert.Equal(190, json.GetProperty("total_loss").GetInt64());
        Assert.Equal(6, spool.GetProperty("quarantined_batches").GetInt64());
        Assert.Equal(60, spool.GetProperty("quarantined_events").GetInt64());
        Assert.Equal(2, spool.GetProperty("quarantine_trimmed_batches").GetInt64());
        Assert.Equal(20, spool.GetProperty("quarantine_trimmed_events").GetInt64());
        Assert.Equal(7, spool.GetProperty("corrupt_batches").GetInt64());
        Assert.Equal(70, spool.GetProperty("corrupt_events").GetInt64());
        Assert.Equal("00112233445566778899aabbccddeeff", spool.GetProperty("epoch").GetString());
        // And it reads back, as `status --watch --json` and the status socket's clients do.
        var back = JsonSerializer.Deserialize(json.GetRawText(), Sluice.Agent.Status.StatusJson.Default.MetricsSnapshot)!;
        Assert.Equal(Snapshot().Spool, back.Spool);
        Assert.Equal(190, back.TotalLoss);
    }

    [Fact]
    public void ProcessFigures_InTextLineFrameAndJson()
    {
        var snapshot = Snapshot() with
        {
            RssBytes = 30L * 1048576, PeakRssBytes = 61L * 1048576 + 524288, CpuUserSeconds = 12.345, CpuSystemSeconds = 6.5, CpuPercent = 17.25f,
        };

        var o = new StringWriter();
        StatusCommand.WriteAgent(o, snapshot);
        Assert.Contains("  process     rss 30.0 MiB (peak 61.5 MiB), cpu 12.35 s user + 6.50 s system, 17.3 % of a core over the last monitor interval", o.ToString());

        var fields = StatusCommand.FormatLine(snapshot, Started.AddMinutes(1)).Split(' ').Skip(1).Select(f => f.Split('=')).ToDictionary(f => f[0], f => f[1]);
        Assert.Equal("31457280", fields["rss_bytes"]);
        Assert.Equal("64487424", fields["peak_rss_bytes"]);
        Assert.Equal("12.35", fields["cpu_user_s"]);
        Assert.Equal("6.50", fields["cpu_system_s"]);
        Assert.Equal("17.3", fields["cpu_percent"]);

        Assert.Contains(StatusCommand.FormatFrame(snapshot, Started.AddMinutes(1)), l => l.StartsWith("  process       17.3% cpu  rss 30.0 MiB (peak 61.5 MiB)", StringComparison.Ordinal));

        var json = JsonDocument.Parse(JsonSerializer.Serialize(snapshot, Sluice.Agent.Status.StatusJson.Default.MetricsSnapshot)).RootElement;
        Assert.Equal(31457280, json.GetProperty("rss_bytes").GetInt64());
        Assert.Equal(64487424, json.GetProperty("peak_rss_bytes").GetInt64());
        Assert.Equal(12.345, json.GetProperty("cpu_user_seconds").GetDouble());
        Assert.Equal(6.5, json.GetProperty("cpu_system_seconds").GetDouble());
        Assert.Equal(17.25, json.GetProperty("cpu_percent").GetDouble());
    }

    [Fact]
    public void HeartbeatLossTotals_EveryKindSinceStart()
    {
        var loss = HeartbeatJob.LossTotals(Snapshot());

        Assert.Equal((1ul, 2ul, 3ul, 4ul), (loss.KernelLost, loss.SocketOverruns, loss.SerialGaps, loss.ReassemblyEvicted));
        Assert.Equal((5ul, 50ul), (loss.SpoolDroppedBatches, loss.SpoolDroppedEvents));
        Assert.Equal((6ul, 60ul), (loss.QuarantinedBatches, loss.QuarantinedEvents));
        Assert.Equal((2ul, 20ul), (loss.QuarantineTrimmedBatches, loss.QuarantineTrimmedEvents));
        Assert.Equal((7ul, 70ul), (loss.SpoolCorruptBatches, loss.SpoolCorruptEvents));
    }
}
