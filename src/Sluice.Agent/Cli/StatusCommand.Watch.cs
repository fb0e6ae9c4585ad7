using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Sluice.Agent.Monitoring;
using Sluice.Agent.Status;

namespace Sluice.Agent.Cli;

/// <summary><c>sluice-agent status --watch</c>: the running agent's figures, refreshed until Ctrl-C or the agent stops.</summary>
internal static partial class StatusCommand
{
    /// <param name="Plain">One line per refresh (key=value, or JSON with --json) instead of redrawing a block in place.</param>
    internal readonly record struct WatchSettings(TimeSpan Interval, int Count, bool Plain, bool Json = false);

    private static (Option<bool> Watch, Option<double> Interval, Option<int> Count) WatchOptions()
    {
        var watch = new Option<bool>("--watch", "-w")
        {
            Description = "Follow the running agent: its figures every --interval seconds, redrawn in place on a terminal, " +
                "one line each otherwise (key=value, or JSON with --json). Ends with Ctrl-C or when the agent stops.",
        };
        var interval = new Option<double>("--interval")
        {
            Description = "Seconds between refreshes with --watch.",
            DefaultValueFactory = _ => 1.0,
        };
        interval.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<double>() is < 0.1 or > 3600)
            {
                r.AddError("--interval: between 0.1 and 3600 seconds");
            }
        });
        var count = new Option<int>("--count")
        {
            Description = "Stop after this many refreshes with --watch (default 0: until Ctrl-C or the agent stops).",
        };
        count.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() < 0)
            {
                r.AddError("--count: 0 or more");
            }
        });
        return (watch, interval, count);
    }

    /// <summary>
    /// Polls the status socket. Waits for an agent that is not there yet; ends (exit 0) when an
    /// agent it has seen stops answering, after <see cref="WatchSettings.Count"/> refreshes, or at cancellation.
    /// Reads only the agent's socket, so it needs no audit capability.
    /// </summary>
    internal static async Task<int> Watch(string socketPath, WatchSettings settings, TextWriter stdout, TextWriter stderr, TimeProvider time, CancellationToken token)
    {
        bool seen = false;
        bool waitingNoted = false;
        int shown = 0;
        int frameLines = 0;
        try
        {
            while (!token.IsCancellationRequested)
            {
                var snapshot = StatusServer.Query(socketPath, TimeSpan.FromSeconds(2));
                if (snapshot is null)
                {
                    if (seen)
                    {
                        stderr.WriteLine($"sluice-agent status: the agent at {socketPath} stopped answering");
                        return 0;
                    }
                    if (!waitingNoted)
                    {
                        stderr.WriteLine($"sluice-agent status: waiting for an agent at {socketPath}");
                        waitingNoted = true;
                    }
                }
                else
                {
                    seen = true;
                    var now = time.GetUtcNow();
                    if (settings.Json)
                    {
                        stdout.WriteLine(JsonSerializer.Serialize(snapshot, StatusJson.Default.MetricsSnapshot));
                    }
                    else if (settings.Plain)
                    {
                        stdout.WriteLine(FormatLine(snapshot, now));
                    }
                    else
                    {
                        var frame = FormatFrame(snapshot, now);
                        var text = new StringBuilder();
                        if (frameLines > 0)
                        {
                            // Cursor up over the previous frame, then clear to the end of the screen.
                            text.Append("\e[").Append(frameLines).Append("A\e[J");
                        }
                        foreach (var line in frame)
                        {
                            text.Append(line).Append('\n');
                        }
                        stdout.Write(text.ToString());
                        frameLines = frame.Count;
                    }
                    stdout.Flush();
                    if (settings.Count > 0 && ++shown >= settings.Count)
                    {
                        return 0;
                    }
                }
                await Task.Delay(settings.Interval, time, token);
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
        return 0;
    }

    /// <summary>One refresh as a block for a terminal: rate, outcome, spool, each loss kind, drain settings.</summary>
    internal static List<string> FormatFrame(MetricsSnapshot a, DateTimeOffset now)
    {
        var c = CultureInfo.InvariantCulture;
        var up = now - a.StartedUtc;
        var lines = new List<string>
        {
            string.Create(c, $"sluice-agent ({a.Mode}{(a.Immutable ? ", kernel immutable" : "")}), up {(int)up.TotalHours}:{up.Minutes:00}:{up.Seconds:00}, at {now:HH:mm:ss} UTC"),
            string.Create(c, $"  rate     {a.EventsPerSecond,10:0.0} events/s  {a.RecordsPerSecond:0.0} records/s (peak {a.PeakRecordsPerSecond:0.0})"),
            a.Spool is { } s
                ? string.Create(c, $"  events   {a.Events,10} assembled  {a.Filtered} filtered  {s.AckedEvents} delivered (acked by the collector)")
                : string.Create(c, $"  events   {a.Events,10} assembled  {a.Filtered} filtered  {a.Written} written  {a.WriteFailures} write failures"),
        };
        if (a.Spool is { } spool)
        {
            lines.Add(string.Create(c, $"  spool    {spool.DepthEvents,10} events waiting  {spool.DepthBatches} batches  {Bytes(spool.DepthBytes)} on disk  " +
                $"epoch {spool.Epoch} since sequence {spool.EpochStartSequence}"));
        }
        lines.Add(string.Create(c, $"  loss     {a.TotalLoss,10} total  kernel_lost {a.KernelLost}  socket_overruns {a.SocketOverruns} (ENOBUFS {a.Enobufs})  " +
            $"serial_gaps {a.SerialGaps}  spool_dropped {a.SpoolDroppedEvents}  evicted {a.ReassemblyEvicted}{DeliveryLossText(a, "  ", " ")}"));
        lines.Add(string.Create(c, $"  drain    every {a.IntervalMs} ms{(a.Continuous ? " (continuous)" : "")}  buffer {Bytes(a.ReceiveBufferBytes)} (fill {a.SocketFill:P1})  " +
            $"backlog {a.Backlog}/{a.BacklogLimit}  stalls +{a.BacklogWaitTimeActual}"));
        lines.Add(string.Create(c, $"  process  {a.CpuPercent,9:0.0}% cpu  rss {Bytes(a.RssBytes)} (peak {Bytes(a.PeakRssBytes)})  " +
            $"cpu time {a.CpuUserSeconds:0.00} s user + {a.CpuSystemSeconds:0.00} s system"));
        return lines;
    }

    /// <summary>One refresh as one line of key=value pairs, for logs and pipes.</summary>
    internal static string FormatLine(MetricsSnapshot a, DateTimeOffset now)
    {
        var c = CultureInfo.InvariantCulture;
        var line = new StringBuilder();
        line.Append(c, $"{now:yyyy-MM-ddTHH:mm:ssZ} events_per_s={a.EventsPerSecond:0.0} events={a.Events} filtered={a.Filtered} written={a.Written}");
        if (a.Spool is { } s)
        {
            line.Append(c, $" delivered={s.AckedEvents} spool_events={s.DepthEvents} spool_batches={s.DepthBatches} spool_bytes={s.DepthBytes}");
        }
        line.Append(c, $" kernel_lost={a.KernelLost} socket_overruns={a.SocketOverruns} enobufs={a.Enobufs} serial_gaps={a.SerialGaps}");
        line.Append(c, $" spool_dropped={a.SpoolDroppedEvents} evicted={a.ReassemblyEvicted}");
        if (a.Spool is { } d)
        {
            line.Append(c, $" spool_dropped_batches={a.SpoolDroppedBatches} quarantined={d.QuarantinedEvents} quarantined_batches={d.QuarantinedBatches}");
            line.Append(c, $" quarantine_trimmed={d.QuarantineTrimmedEvents} quarantine_trimmed_batches={d.QuarantineTrimmedBatches}");
            line.Append(c, $" spool_corrupt={d.CorruptEvents} spool_corrupt_batches={d.CorruptBatches} epoch={d.Epoch}");
        }
        line.Append(c, $" loss_total={a.TotalLoss}");
        line.Append(c, $" interval_ms={a.IntervalMs} continuous={(a.Continuous ? 1 : 0)} buffer_bytes={a.ReceiveBufferBytes} backlog={a.Backlog}");
        line.Append(c, $" rss_bytes={a.RssBytes} peak_rss_bytes={a.PeakRssBytes} cpu_user_s={a.CpuUserSeconds:0.00} cpu_system_s={a.CpuSystemSeconds:0.00} cpu_percent={a.CpuPercent:0.0}");
        return line.ToString();
    }

    /// <summary>
    /// The delivery path's own loss kinds, events (batches), each after <paramref name="separator"/>,
    /// name and value joined by <paramref name="join"/>; empty without a spool. Quarantine trims are
    /// shown, not added to the total: their events are already counted as quarantined.
    /// </summary>
    internal static string DeliveryLossText(MetricsSnapshot a, string separator, string join)
    {
        if (a.Spool is not { } s)
        {
            return "";
        }
        var c = CultureInfo.InvariantCulture;
        return string.Create(c,
            $"{separator}quarantined{join}{s.QuarantinedEvents} ({s.QuarantinedBatches} batches){separator}spool_corrupt{join}{s.CorruptEvents} ({s.CorruptBatches} batches)" +
            $"{separator}quarantine_trimmed{join}{s.QuarantineTrimmedEvents} ({s.QuarantineTrimmedBatches} batches, not in the total)");
    }

    private static string Bytes(long n) => n switch
    {
        >= 1L << 30 => string.Create(CultureInfo.InvariantCulture, $"{n / (double)(1L << 30):0.0} GiB"),
        >= 1L << 20 => string.Create(CultureInfo.InvariantCulture, $"{n / (double)(1L << 20):0.0} MiB"),
        >= 1L << 10 => string.Create(CultureInfo.InvariantCulture, $"{n / 1024.0:0.0} KiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{n} B"),
    };
}
