using System.Globalization;
using System.Text;

namespace Sluice.Benchmarks.Fleet;

/// <summary>What one fleet run measured, and the figures worked out from it (no timing here: tested in Sluice.Benchmarks.Tests).</summary>
internal sealed record FleetReport
{
    public required FleetOptions Options { get; init; }
    public double ElapsedSeconds { get; init; }
    public long BatchesAcked { get; init; }
    public long EventsAcked { get; init; }
    public long HeartbeatsAnswered { get; init; }
    public long DuplicateAcks { get; init; }
    /// <summary>Acknowledgement latency of every batch (ms), sorted or not.</summary>
    public IReadOnlyList<double> AckLatencyMs { get; init; } = [];
    /// <summary>
    /// Per agent, how far behind its schedule it was at the stop (ms): how long its first batch not yet sent had been due.
    /// The batches due and not sent are what waits in a real agent's spool.
    /// </summary>
    public IReadOnlyList<double> FinalLagMs { get; init; } = [];
    /// <summary>Acks that asked the agent for a pace (<c>Ack.next_send_after_ms</c> above 0).</summary>
    public long PacedAcks { get; init; }
    /// <summary>The pace each of those acks asked (ms), sorted or not.</summary>
    public IReadOnlyList<double> PaceAskedMs { get; init; } = [];
    /// <summary>Batches an agent sent later than its schedule (or, behind it, the last ack) allowed, held back by a pace.</summary>
    public long DeferredBatches { get; init; }
    public double CollectorCpuSeconds { get; init; }
    public double DatabaseCpuSeconds { get; init; }
    public double ClientCpuSeconds { get; init; }
    public long CollectorIdleRssBytes { get; init; }
    public long CollectorLoadedRssBytes { get; init; }
    public long CollectorPeakRssBytes { get; init; }
    /// <summary>Failed calls (retried) by gRPC status code.</summary>
    public IReadOnlyDictionary<string, long> FailedCalls { get; init; } = new Dictionary<string, long>();
    /// <summary>Refused calls (not retried: the batch is set aside) by gRPC status code.</summary>
    public IReadOnlyDictionary<string, long> RefusedCalls { get; init; } = new Dictionary<string, long>();
    /// <summary>Latency of each <c>/api/fleet</c> answer during the run (ms); a failed poll is <see cref="double.PositiveInfinity"/>.</summary>
    public IReadOnlyList<double> FleetViewMs { get; init; } = [];
    /// <summary>One <c>/api/fleet</c> after the run, the load gone (ms).</summary>
    public double QuietFleetViewMs { get; init; } = double.NaN;
    public string StoredCheck { get; init; } = "";
    public bool StoredExactlyOnce { get; init; }
    public string LoadBefore { get; init; } = "";
    public string LoadAfter { get; init; } = "";

    public double BatchesPerSecond => BatchesAcked / ElapsedSeconds;
    public double EventsPerSecond => EventsAcked / ElapsedSeconds;
    public double MeanBatchEvents => BatchesAcked == 0 ? 0 : (double)EventsAcked / BatchesAcked;
    /// <summary>Collector CPU per acknowledged batch (µs): the whole process, heartbeats and fleet polls included.</summary>
    public double CollectorUsPerBatch => BatchesAcked == 0 ? double.NaN : CollectorCpuSeconds * 1e6 / BatchesAcked;
    public double CollectorUsPerEvent => EventsAcked == 0 ? double.NaN : CollectorCpuSeconds * 1e6 / EventsAcked;
    public double DatabaseUsPerBatch => BatchesAcked == 0 ? double.NaN : DatabaseCpuSeconds * 1e6 / BatchesAcked;
    public double DatabaseUsPerEvent => EventsAcked == 0 ? double.NaN : DatabaseCpuSeconds * 1e6 / EventsAcked;
    /// <summary>Cores the collector kept busy on average.</summary>
    public double CollectorCores => CollectorCpuSeconds / ElapsedSeconds;
    /// <summary>(loaded RSS - idle RSS) / connections: what each held connection (with its agent's traffic) costs the collector.</summary>
    public double RssPerConnectionBytes => (double)(CollectorLoadedRssBytes - CollectorIdleRssBytes) / Options.Connections;
    /// <summary>The share of the offered batches that were acknowledged.</summary>
    public double AchievedShare => Options.OfferedBatches == 0 ? 0 : (double)BatchesAcked / Options.OfferedBatches;
    /// <summary>The share of the acks that asked for a pace.</summary>
    public double PacedShare => BatchesAcked == 0 ? 0 : (double)PacedAcks / BatchesAcked;
    /// <summary>The share of the acknowledged batches that a pace held back.</summary>
    public double DeferredShare => BatchesAcked == 0 ? 0 : (double)DeferredBatches / BatchesAcked;

    /// <summary>
    /// The failures that mean the collector (or the host under it) ran short: RESOURCE_EXHAUSTED (no slot for the call),
    /// DEADLINE_EXCEEDED (not answered within the attempt timeout), UNAVAILABLE (a connection not made in time, or lost).
    /// </summary>
    public static readonly IReadOnlyList<string> LackOfResourcesCodes = ["ResourceExhausted", "DeadlineExceeded", "Unavailable"];
    /// <summary>Calls (batches and heartbeats; each attempt) that failed for lack of resources: <see cref="LackOfResourcesCodes"/> among <see cref="FailedCalls"/>.</summary>
    public long FailedForLackOfResources => LackOfResourcesCodes.Sum(c => FailedCalls.GetValueOrDefault(c));
    /// <summary>Whether the run held "no call fails for lack of resources".</summary>
    public bool NoCallFailedForLackOfResources => FailedForLackOfResources == 0;

    /// <summary>Batches an agent <paramref name="lagMs"/> behind its schedule has due and not sent (the first one due at lag 0+).</summary>
    public double BatchesBehind(double lagMs) => lagMs > 0 ? Math.Floor(lagMs / Options.BatchIntervalMs) + 1 : 0;

    /// <summary>The value at quantile <paramref name="q"/> (0..1) of <paramref name="values"/>, nearest rank; NaN for none.</summary>
    public static double Quantile(IReadOnlyList<double> values, double q)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }
        var sorted = values.Order().ToArray();
        int rank = (int)Math.Ceiling(q * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    public string Text()
    {
        var o = Options;
        var t = new StringBuilder();
        void Line(FormattableString s) => t.AppendLine(s.ToString(CultureInfo.InvariantCulture));
        Line($"fleet: {o.Agents:N0} agents on {o.Connections:N0} connections, store {o.Store}, {o.Seconds} s, a batch every {o.BatchIntervalMs} ms (median {o.BatchMedian} events, burst of {o.BurstSize} in 1/{o.BurstEvery}), heartbeat every {o.HeartbeatSeconds} s{(o.RampSeconds > 0 ? $", agents coming up over the first {o.RampSeconds} s" : "")}");
        Line($"  load average before {LoadBefore}, after {LoadAfter}");
        Line($"  stored: {BatchesPerSecond:N0} batches/s, {EventsPerSecond:N0} events/s ({MeanBatchEvents:F1} events/batch), {HeartbeatsAnswered:N0} heartbeats; {BatchesAcked:N0} of {o.OfferedBatches:N0} offered batches ({AchievedShare:P1})");
        Line($"  ack latency: p50 {Quantile(AckLatencyMs, 0.5):F1} ms, p99 {Quantile(AckLatencyMs, 0.99):F1} ms, max {Quantile(AckLatencyMs, 1):F1} ms");
        Line($"  behind schedule at the stop, per agent (batches due and not sent: what waits in its spool): p50 {Lag(0.5)}, p99 {Lag(0.99)}, max {Lag(1)}");
        Line($"  paced: {PacedAcks:N0} of {BatchesAcked:N0} acks asked for a pace ({PacedShare:P1}){(PacedAcks == 0 ? "" : string.Create(CultureInfo.InvariantCulture, $", asked p50 {Quantile(PaceAskedMs, 0.5):F0} ms, p99 {Quantile(PaceAskedMs, 0.99):F0} ms, max {Quantile(PaceAskedMs, 1):F0} ms"))}; {DeferredBatches:N0} batches held back by a pace ({DeferredShare:P1} of those acknowledged)");
        Line($"  collector CPU: {CollectorCores:F2} cores, {CollectorUsPerBatch:F0} us/batch, {CollectorUsPerEvent:F2} us/event");
        Line($"  database CPU: {DatabaseCpuSeconds / ElapsedSeconds:F2} cores, {DatabaseUsPerBatch:F0} us/batch, {DatabaseUsPerEvent:F2} us/event{(o.Store == "sqlite" ? " (SQLite: inside the collector's figure)" : "")}");
        Line($"  simulator CPU: {ClientCpuSeconds / ElapsedSeconds:F2} cores");
        Line($"  collector RSS: idle {CollectorIdleRssBytes / 1048576.0:F0} MiB, loaded {CollectorLoadedRssBytes / 1048576.0:F0} MiB, peak {CollectorPeakRssBytes / 1048576.0:F0} MiB; {RssPerConnectionBytes / 1024:F1} KiB per connection");
        Line($"  failed calls (retried): {Codes(FailedCalls)}; refused calls: {Codes(RefusedCalls)}; duplicate acks (a resend after the attempt timeout): {DuplicateAcks}");
        var lack = FailedCalls.Where(f => LackOfResourcesCodes.Contains(f.Key) && f.Value > 0).ToDictionary();
        Line($"  no call failed for lack of resources ({string.Join(", ", LackOfResourcesCodes)}): {(NoCallFailedForLackOfResources ? "yes" : string.Create(CultureInfo.InvariantCulture, $"NO: {FailedForLackOfResources:N0} calls ({Codes(lack)})"))}");
        var polls = FleetViewMs;
        Line($"  /api/fleet: {polls.Count} polls, {polls.Count(double.IsInfinity)} failed, p50 {Quantile(polls, 0.5):F0} ms, max {Quantile(polls, 1):F0} ms; after the run, the load gone: {QuietFleetViewMs:F0} ms");
        Line($"  exactly once: {StoredCheck}");
        return t.ToString();

        string Lag(double q)
        {
            double ms = Quantile(FinalLagMs, q);
            return string.Create(CultureInfo.InvariantCulture, $"{ms / 1000:F2} s ({BatchesBehind(ms):N0} batches)");
        }
    }

    private static string Codes(IReadOnlyDictionary<string, long> codes) =>
        codes.Count == 0 ? "none" : string.Join(", ", codes.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key} {c.Value}"));
}

/// <summary>The exactly-once check: per agent, the acknowledged sequences against the stored ones.</summary>
internal static class FleetVerifier
{
    /// <summary>
    /// Problems found; none when every agent's stored sequences are exactly 1..its last acknowledged one, each once.
    /// The simulator lets every call in flight finish before it stops (within a grace of minutes), so nothing is stored
    /// unacknowledged but an agent's <paramref name="unfinished"/> batch, still unanswered when the grace ran out, which may be.
    /// </summary>
    public static IReadOnlyList<string> Check(IReadOnlyDictionary<string, long> lastAcked, IReadOnlyDictionary<string, List<long>> stored,
        IReadOnlyDictionary<string, long>? unfinished = null)
    {
        var problems = new List<string>();
        foreach (string agent in lastAcked.Keys.Union(stored.Keys).Order(StringComparer.Ordinal))
        {
            long last = lastAcked.GetValueOrDefault(agent);
            var sequences = stored.TryGetValue(agent, out var s) ? s.Order().ToList() : [];
            var distinct = sequences.Distinct().ToList();
            if (sequences.Count != distinct.Count)
            {
                problems.Add($"{agent}: {sequences.Count - distinct.Count} sequence(s) stored more than once");
            }
            long missing = Enumerable.Range(1, (int)Math.Min(last, int.MaxValue)).LongCount(n => distinct.BinarySearch(n) < 0);
            long open = unfinished?.GetValueOrDefault(agent) ?? 0;
            long extra = distinct.LongCount(n => (n < 1 || n > last) && !(open == last + 1 && n == open));
            if (missing > 0)
            {
                problems.Add($"{agent}: {missing} of the acknowledged sequences 1..{last} not stored");
            }
            if (extra > 0)
            {
                problems.Add($"{agent}: {extra} stored sequence(s) outside the acknowledged 1..{last}");
            }
        }
        return problems;
    }
}
