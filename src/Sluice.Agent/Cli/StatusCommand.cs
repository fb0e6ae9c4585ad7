using System.CommandLine;
using System.Text.Json;
using Sluice.Agent.Configuration;
using Sluice.Agent.Monitoring;
using Sluice.Agent.Status;
using Sluice.Audit.Netlink;

namespace Sluice.Agent.Cli;

/// <summary><c>sluice-agent status [--json]</c>: the kernel's audit status, as <c>auditctl -s</c> shows it, and more.</summary>
internal static partial class StatusCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of text." };
        var socket = new Option<string?>("--socket")
        {
            Description = "Status socket of a running agent (default: Status:Socket from the agent config, /run/sluice/agent.sock).",
        };
        var command = new Command("status", "Show the kernel audit status (the fields of auditctl -s), the consumer's name and the rule count.");
        command.Options.Add(json);
        command.Options.Add(socket);
        var (watch, interval, count) = WatchOptions();
        command.Options.Add(watch);
        command.Options.Add(interval);
        command.Options.Add(count);
        command.SetAction((parse, token) => parse.GetValue(watch)
            ? Watch(parse.GetValue(socket) ?? DefaultSocket(), new WatchSettings(TimeSpan.FromSeconds(parse.GetValue(interval)), parse.GetValue(count),
                Plain: Console.IsOutputRedirected, Json: parse.GetValue(json)), Console.Out, Console.Error, TimeProvider.System, token)
            : Task.FromResult(Run(parse.GetValue(json), Console.Out, Console.Error, parse.GetValue(socket))));
        return command;
    }

    internal static int Run(bool json, TextWriter stdout, TextWriter stderr, string? socketPath = null)
    {
        AuditStatus status;
        AuditFeatureState features;
        int rules;
        try
        {
            using var client = AuditControlClient.Open();
            status = client.GetStatus();
            features = client.GetFeatures();
            rules = client.ListRules().Count;
        }
        catch (AuditException e)
        {
            stderr.WriteLine($"sluice-agent status: {e.Message}");
            return e.Kind == AuditErrorKind.PermissionDenied ? 4 : 1;
        }
        string? comm = ProcessNames.Comm(status.Pid);
        var agent = StatusServer.Query(socketPath ?? DefaultSocket(), TimeSpan.FromSeconds(2));
        if (json)
        {
            stdout.WriteLine(ToJson(status, features, comm, rules, agent));
        }
        else
        {
            WriteText(stdout, status, features, comm, rules);
            if (agent is not null)
            {
                WriteAgent(stdout, agent);
            }
        }
        return 0;
    }

    private static string DefaultSocket()
    {
        try
        {
            return AgentConfiguration.Load(null).Status.Socket;
        }
        catch (ConfigurationException)
        {
            return new StatusOptions().Socket;
        }
    }

    internal static void WriteAgent(TextWriter o, MetricsSnapshot a)
    {
        o.WriteLine($"agent {a.Version} running since {a.StartedUtc:u}, mode {a.Mode}{(a.Immutable ? " (kernel immutable)" : "")}");
        o.WriteLine($"  rate        {a.EventsPerSecond:0.0} events/s, {a.RecordsPerSecond:0.0} records/s (peak {a.PeakRecordsPerSecond:0.0})");
        o.WriteLine($"  events      {a.Records} records drained, {a.Events} events, {a.Filtered} filtered, {a.Written} written, {a.WriteFailures} write failures");
        o.WriteLine($"  loss        kernel_lost {a.KernelLost}, socket_overruns {a.SocketOverruns} ({a.Enobufs} ENOBUFS), serial_gaps {a.SerialGaps}, " +
            $"evicted {a.ReassemblyEvicted}, spool_dropped {a.SpoolDroppedEvents}{(a.Spool is not null ? $" ({a.SpoolDroppedBatches} batches)" : "")}{DeliveryLossText(a, ", ", " ")}, truncated {a.Truncated}, total {a.TotalLoss}");
        if (a.Spool is { } spool)
        {
            o.WriteLine($"  spool       {spool.DepthEvents} events in {spool.DepthBatches} batches waiting ({spool.DepthBytes} bytes), {spool.AckedEvents} delivered, " +
                $"epoch {spool.Epoch} since sequence {spool.EpochStartSequence}, next sequence {spool.NextSequence}");
        }
        if (a.Shipping is { } shipping)
        {
            WriteShipping(o, shipping);
        }
        o.WriteLine($"  stalls      backlog_wait_time_actual +{a.BacklogWaitTimeActual} since start");
        o.WriteLine($"  drain       every {a.IntervalMs} ms{(a.Continuous ? " (continuous)" : "")}, buffer {a.ReceiveBufferBytes} bytes " +
            $"(sized {a.WantedBufferBytes}), fill {a.SocketFill:P1}, truesize {a.TruesizeBytes} B/record");
        o.WriteLine($"  kernel      backlog {a.Backlog}/{a.BacklogLimit}, {a.Adjustments} adjustments, {a.WatchdogReasserts} reasserted, {a.ReplaceRequests} claim attempts by others");
        o.WriteLine($"  rules       {a.RulesLoaded} loaded, hash {a.RulesHash}");
        foreach (var line in PolicyText(a.Policy))
        {
            o.WriteLine("  " + line);
        }
        o.WriteLine(ProcessText(a, "  process     "));
        o.WriteLine(EnrichmentText(a.Enrichment, "  "));
        foreach (var f in a.FilterRules)
        {
            o.WriteLine($"  filter      {f.Name} ({f.Action}): matched {f.Matched}, dropped {f.Dropped}");
        }
    }

    /// <summary>
    /// The policy lines: "policy: HASH12 (central, group G)", "policy: HASH12 (last good from disk, group G)"
    /// or "policy: local files"; then the last refusal and any note.
    /// </summary>
    internal static IEnumerable<string> PolicyText(Policy.PolicyStatus p)
    {
        yield return p.Hash.Length == 0
            ? $"policy: {Policy.PolicySources.Local}"
            : $"policy: {Policy.LastGoodPolicy.Short(p.Hash)} ({p.Source}, group {Policy.PolicyState.GroupName(p.Group)})";
        if (p.RefusedHash.Length > 0)
        {
            yield return $"policy refused: {Policy.LastGoodPolicy.Short(p.RefusedHash)}{(p.RefusedUtc is { } at ? $" at {at:u}" : "")}: {p.Refusal}";
        }
        if (p.Note.Length > 0)
        {
            yield return $"policy note: {p.Note}";
        }
    }

    /// <summary>
    /// The shipper's state; while the collector paces the agent, when the next batch may go (from
    /// <paramref name="now"/>, the current time by default); then one line per collector: up or down
    /// since when, which one is current, its counters and last error.
    /// </summary>
    internal static void WriteShipping(TextWriter o, Shipping.ShipperStatus s, DateTimeOffset? now = null)
    {
        var c = System.Globalization.CultureInfo.InvariantCulture;
        o.WriteLine(string.Create(c, $"  shipping    {s.State}, {s.InFlight} in flight, {s.AckedBatches} batches acked ({s.DuplicateAcks} duplicate), {s.Retries} retries, {s.QuarantinedBatches} quarantined") +
            (s.LastError is null ? "" : string.Create(c, $"; last error {s.LastErrorAt:u}: {s.LastError}")));
        if (s.PacedUntil is { } until)
        {
            double left = (until - (now ?? DateTimeOffset.UtcNow)).TotalSeconds;
            string next = left > 0 ? string.Create(c, $"next batch in {left:0.0} s") : "one batch in flight at a time";
            o.WriteLine(string.Create(c, $"  paced       by the collector: {next} (asked {s.PaceMs:N0} ms, honoured {s.PaceSeconds:0.###} s; {s.PacedAcks:N0} acks paced since start)"));
        }
        foreach (var collector in s.Collectors)
        {
            string state = collector.State switch
            {
                "up" => string.Create(c, $"up since {collector.Since:u}"),
                _ => string.Create(c, $"{collector.State} since {collector.Since:u}, next try {collector.RetryAt:u}"),
            };
            o.WriteLine(string.Create(c, $"  collector   {collector.Url} {state}{(collector.Current ? " (current)" : "")}: ") +
                string.Create(c, $"{collector.AckedBatches} batches acked ({collector.AckedEvents} events, {collector.DuplicateAcks} duplicate), {collector.Failures} failed attempts, ") +
                string.Create(c, $"{collector.RefusedBatches} refused, {collector.Heartbeats} heartbeats, breaker {collector.Breaker}") +
                (collector.LastError is null ? "" : string.Create(c, $"; last error {collector.LastErrorAt:u}: {collector.LastError}")));
        }
    }

    /// <summary>The agent process's own cost: resident memory now and at its peak, CPU time since start, and its share of a core lately.</summary>
    internal static string ProcessText(MetricsSnapshot a, string prefix) => string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"{prefix}rss {a.RssBytes / 1048576.0:0.0} MiB (peak {a.PeakRssBytes / 1048576.0:0.0} MiB), cpu {a.CpuUserSeconds:0.00} s user + {a.CpuSystemSeconds:0.00} s system, " +
        $"{a.CpuPercent:0.0} % of a core over the last monitor interval");

    /// <summary>The process table's line: "enrichment: off" or its size, bound, evictions and unknowns.</summary>
    internal static string EnrichmentText(Enrichment.EnrichmentStatus t, string prefix) => !t.Enabled
        ? $"{prefix}enrichment: off"
        : $"{prefix}enrichment: {t.Processes} processes of {t.MaxProcesses} ({t.ExitedKept} exited kept), {t.TableBytes} bytes, {t.Evicted} evicted, " +
          $"unknown parent {t.ParentUnknown} / container {t.ContainerUnknown} / unit {t.UnitUnknown} events, {t.ProcScanned} read from /proc";

    internal static string ToJson(AuditStatus status, AuditFeatureState features, string? comm, int rules, MetricsSnapshot? agent = null)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("enabled", status.Enabled);
            w.WriteNumber("failure", status.Failure);
            w.WriteNumber("pid", status.Pid);
            w.WriteNumber("rate_limit", status.RateLimit);
            w.WriteNumber("backlog_limit", status.BacklogLimit);
            w.WriteNumber("lost", status.Lost);
            w.WriteNumber("backlog", status.Backlog);
            WriteOptional(w, "backlog_wait_time", status.BacklogWaitTime);
            WriteOptional(w, "backlog_wait_time_actual", status.BacklogWaitTimeActual);
            w.WriteNumber("loginuid_immutable", features.LoginUidImmutable ? 1 : 0);
            w.WriteBoolean("loginuid_immutable_locked", features.Locked);
            WriteOptional(w, "feature_bitmap", status.FeatureBitmap);
            w.WriteStartArray("features");
            foreach (var f in status.Features)
            {
                w.WriteStringValue(f);
            }
            w.WriteEndArray();
            if (comm is null)
            {
                w.WriteNull("consumer_comm");
            }
            else
            {
                w.WriteString("consumer_comm", comm);
            }
            w.WriteNumber("rules", rules);
            if (agent is not null)
            {
                w.WritePropertyName("agent");
                JsonSerializer.Serialize(w, agent, StatusJson.Default.MetricsSnapshot);
            }
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void WriteOptional(Utf8JsonWriter w, string name, uint? value)
    {
        if (value is uint v)
        {
            w.WriteNumber(name, v);
        }
    }

    // Same names and order as auditctl -s, then our additions.
    internal static void WriteText(TextWriter o, AuditStatus s, AuditFeatureState features, string? comm, int rules)
    {
        o.WriteLine($"enabled {s.Enabled}");
        o.WriteLine($"failure {s.Failure}");
        o.WriteLine(s.Pid == 0 ? "pid 0" : $"pid {s.Pid} ({comm ?? "unknown"})");
        o.WriteLine($"rate_limit {s.RateLimit}");
        o.WriteLine($"backlog_limit {s.BacklogLimit}");
        o.WriteLine($"lost {s.Lost}");
        o.WriteLine($"backlog {s.Backlog}");
        if (s.BacklogWaitTime is uint wait)
        {
            o.WriteLine($"backlog_wait_time {wait}");
        }
        if (s.BacklogWaitTimeActual is uint actual)
        {
            o.WriteLine($"backlog_wait_time_actual {actual}");
        }
        o.WriteLine($"loginuid_immutable {(features.LoginUidImmutable ? 1 : 0)} {(features.Locked ? "locked" : "unlocked")}");
        if (s.FeatureBitmap is uint bits)
        {
            o.WriteLine($"feature_bitmap 0x{bits:x} ({string.Join(", ", s.Features)})");
        }
        o.WriteLine($"rules {rules}");
        if (s.IsImmutable)
        {
            o.WriteLine("note: audit configuration is locked (immutable) until reboot");
        }
    }
}
