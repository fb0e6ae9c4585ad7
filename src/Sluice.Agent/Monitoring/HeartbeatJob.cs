using Quartz;
using Sluice.Agent.Kernel;
using Sluice.Agent.Policy;
using Sluice.Agent.Shipping;
using Sluice.Agent.Spool;
using Sluice.Audit.Rules;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Monitoring;

/// <summary>
/// Every Monitor:HeartbeatIntervalMs with the Collector sink: tells the collector the agent is up,
/// with its figures, loss totals since start, and the rules in force (hash and lines). The
/// collector's coverage report reads agent uptime from these, and its baseline check the lines.
/// The central policy in force (or refused) goes with them; a reply that carries a new policy for
/// the agent's group is handed to <see cref="PolicyApplier"/>, so a policy set at the collector is
/// in force within one interval.
/// </summary>
[DisallowConcurrentExecution]
internal sealed class HeartbeatJob(HeartbeatSender sender, AgentMetrics metrics, KernelSession session, PolicyState policy, PolicyApplier applier) : IJob
{
    public static readonly JobKey Key = new("heartbeat", "sluice");

    // The formatted lines of the last rule list seen: rules change rarely, heartbeats often.
    private sealed record Formatted(IReadOnlyList<KernelRule> Rules, string[] Lines);
    private static Formatted? _formatted;

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        var reply = await sender.SendAsync(Values(metrics.Snapshot(), session.LoadedRules, policy.Status), cancellationToken).ConfigureAwait(false);
        applier.OnReply(reply);
    }

    internal static HeartbeatValues Values(MetricsSnapshot m, IReadOnlyList<KernelRule> rules, PolicyStatus? policy = null)
    {
        var formatted = _formatted;
        if (formatted is null || !ReferenceEquals(formatted.Rules, rules))
        {
            formatted = new Formatted(rules, [.. rules.Select(r => RuleFormatter.Format(r))]);
            _formatted = formatted;
        }
        return new HeartbeatValues
        {
            Version = Sluice.Protocol.ProductVersion.Current,
            StartedAt = m.StartedUtc,
            Mode = m.Mode,
            Kernel = new KernelSettings { BacklogLimit = (uint)Math.Max(0, m.BacklogLimit), Backlog = (uint)Math.Max(0, m.Backlog) },
            RulesHash = m.RulesHash,
            RulesCount = (uint)Math.Max(0, m.RulesLoaded),
            Rules = formatted.Lines,
            LossTotals = LossTotals(m),
            SocketBufferBytes = (uint)Math.Max(0, m.ReceiveBufferBytes),
            DrainIntervalMs = (uint)Math.Max(0, m.IntervalMs),
            PolicyHash = policy?.Hash ?? "",
            PolicyRefusedHash = policy?.RefusedHash ?? "",
            PolicyRefusal = policy?.Refusal ?? "",
        };
    }

    /// <summary>
    /// Every loss kind since the agent started, the delivery path's own (spool drops, quarantine,
    /// corruption) included, written by the same two methods that write them into batches
    /// (<see cref="CaptureLoss.AddTo"/>, <see cref="DeliveryLoss.AddTo"/>; docs/loss-model.md).
    /// </summary>
    internal static LossCounters LossTotals(MetricsSnapshot m)
    {
        static ulong U(long n) => (ulong)Math.Max(0, n);
        var loss = new LossCounters { Filtered = U(m.Filtered) };
        m.CaptureLoss.AddTo(loss);
        var s = m.Spool;
        new DeliveryLoss
        {
            SpoolDroppedBatches = U(m.SpoolDroppedBatches),
            SpoolDroppedEvents = U(m.SpoolDroppedEvents),
            QuarantinedBatches = U(s?.QuarantinedBatches ?? 0),
            QuarantinedEvents = U(s?.QuarantinedEvents ?? 0),
            QuarantineTrimmedBatches = U(s?.QuarantineTrimmedBatches ?? 0),
            QuarantineTrimmedEvents = U(s?.QuarantineTrimmedEvents ?? 0),
            SpoolCorruptBatches = U(s?.CorruptBatches ?? 0),
            SpoolCorruptEvents = U(s?.CorruptEvents ?? 0),
        }.AddTo(loss);
        return loss;
    }
}
