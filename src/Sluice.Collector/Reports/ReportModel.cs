using System.Text.Json.Serialization;
using Sluice.Collector.Storage;

namespace Sluice.Collector.Reports;

/// <summary>What a report covers: [FromUnixMs, ToUnixMs) UTC, one agent or all, and an optional baseline rules file.</summary>
/// <param name="MaxSilenceMs">Longer than this without a heartbeat or a batch interval, an agent counts as disconnected.</param>
/// <param name="MaxRows">Detail rows per section at most (the totals always count everything).</param>
internal sealed record ReportRequest(long FromUnixMs, long ToUnixMs, string? AgentId, string? BaselineRulesPath)
{
    public long MaxSilenceMs { get; init; } = 180_000;

    public int MaxRows { get; init; } = 500;

    /// <summary>Only the coverage and the per-hour charts, the other sections left empty: the dashboard's fleet and host views.</summary>
    public bool CoverageOnly { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the bad value.</summary>
    public void Validate()
    {
        if (ToUnixMs <= FromUnixMs)
        {
            throw new ArgumentException($"report range: --to ({ReportTime.Iso(ToUnixMs)}) must be after --from ({ReportTime.Iso(FromUnixMs)})");
        }
        if (MaxSilenceMs <= 0)
        {
            throw new ArgumentException($"report: the silence threshold must be positive, not {MaxSilenceMs} ms");
        }
        if (MaxRows <= 0)
        {
            throw new ArgumentException($"report: the detail row limit must be positive, not {MaxRows}");
        }
    }
}

/// <summary>The compliance report: what happened, and whether auditing was on and complete, per host, over a time range.</summary>
internal sealed record ComplianceReport
{
    public required long FromUnixMs { get; init; }
    public required long ToUnixMs { get; init; }
    public string From => ReportTime.Iso(FromUnixMs);
    public string To => ReportTime.Iso(ToUnixMs);
    public string TimeZone => "UTC";
    public required long GeneratedAtUnixMs { get; init; }
    public string GeneratedAt => ReportTime.Iso(GeneratedAtUnixMs);
    /// <summary>The --agent filter, or null for every agent.</summary>
    public string? Agent { get; init; }
    public long MaxSilenceMs { get; init; }
    /// <summary>
    /// Where coverage ends: the range's end, or the time the report was made when the range ends after it.
    /// Nothing can have been received from the future, so the rest of the range is not called a gap.
    /// </summary>
    public long CoveredToUnixMs { get; init; }
    public string CoveredTo => ReportTime.Iso(CoveredToUnixMs);
    /// <summary>True when the range ends after the report was made, and coverage was cut at that time.</summary>
    public bool CutAtNow => CoveredToUnixMs < ToUnixMs;
    /// <summary>
    /// Set when the range starts before the retained range: a prune deleted the events before this time, so no host
    /// is complete and the stretch before it shows nothing. Null otherwise (so a report within the retained range
    /// reads the same before and after a prune).
    /// </summary>
    public long? PrunedBeforeUnixMs { get; init; }
    public string? PrunedBefore => PrunedBeforeUnixMs is long ms ? ReportTime.Iso(ms) : null;
    public IReadOnlyList<ControlRef> CoverageControls => ReportControls.Coverage;
    public IReadOnlyList<HostCoverage> Coverage { get; init; } = [];
    /// <summary>Sums over <see cref="Coverage"/>'s hosts.</summary>
    public CoverageTotals Totals { get; init; } = new();
    public PrivilegedSection Privileged { get; init; } = new();
    public IdentitySection Identity { get; init; } = new();
    public AccessFailureSection AccessFailures { get; init; } = new();
    public AuditChangeSection AuditChanges { get; init; } = new();
    public BaselineSection Baseline { get; init; } = new();
    /// <summary>Central policy: each host against its group's policy, and the hosts that differ.</summary>
    public PolicySection Policy { get; init; } = new();
    /// <summary>Events per host per UTC hour (only hours with events).</summary>
    public IReadOnlyList<HourCount> EventsPerHour { get; init; } = [];
    /// <summary>Events lost per host per UTC hour, by kind (only hours with loss).</summary>
    public IReadOnlyList<HourLoss> LossOverTime { get; init; } = [];
}

/// <summary>A control a section evidences, e.g. PCI DSS 10.2.1.2.</summary>
internal sealed record ControlRef(string Framework, string Id, string Title);

/// <summary>
/// Loss counted by kind, every kind the agents report. A view of <see cref="LossTotals"/>: <see cref="Total"/>,
/// <see cref="BatchesLost"/> and <see cref="AnyLoss"/> are its definitions, and sums saturate at
/// <see cref="long.MaxValue"/> (a hostile counter can neither fail a report nor turn it negative).
/// </summary>
internal sealed record LossCounts
{
    /// <summary>The counters themselves.</summary>
    [JsonIgnore]
    public LossTotals Totals { get; init; } = new();

    public long KernelLost { get => Totals.KernelLost; init => Totals = Totals with { KernelLost = value }; }
    public long SocketOverruns { get => Totals.SocketOverruns; init => Totals = Totals with { SocketOverruns = value }; }
    public long SerialGaps { get => Totals.SerialGaps; init => Totals = Totals with { SerialGaps = value }; }
    /// <summary>Events dropped by the agent's full spool (spool_dropped_events).</summary>
    public long SpoolDropped { get => Totals.SpoolDroppedEvents; init => Totals = Totals with { SpoolDroppedEvents = value }; }
    public long ReassemblyEvicted { get => Totals.ReassemblyEvicted; init => Totals = Totals with { ReassemblyEvicted = value }; }
    public long SpoolDroppedBatches { get => Totals.SpoolDroppedBatches; init => Totals = Totals with { SpoolDroppedBatches = value }; }
    public long Truncated { get => Totals.Truncated; init => Totals = Totals with { Truncated = value }; }
    public long ParseErrors { get => Totals.ParseErrors; init => Totals = Totals with { ParseErrors = value }; }
    public long BacklogWaitTimeActual { get => Totals.BacklogWaitTimeActual; init => Totals = Totals with { BacklogWaitTimeActual = value }; }
    public long Filtered { get => Totals.Filtered; init => Totals = Totals with { Filtered = value }; }
    public long QuarantinedBatches { get => Totals.QuarantinedBatches; init => Totals = Totals with { QuarantinedBatches = value }; }
    public long QuarantinedEvents { get => Totals.QuarantinedEvents; init => Totals = Totals with { QuarantinedEvents = value }; }
    public long QuarantineTrimmedBatches { get => Totals.QuarantineTrimmedBatches; init => Totals = Totals with { QuarantineTrimmedBatches = value }; }
    public long QuarantineTrimmedEvents { get => Totals.QuarantineTrimmedEvents; init => Totals = Totals with { QuarantineTrimmedEvents = value }; }
    public long SpoolCorruptBatches { get => Totals.SpoolCorruptBatches; init => Totals = Totals with { SpoolCorruptBatches = value }; }
    public long SpoolCorruptEvents { get => Totals.SpoolCorruptEvents; init => Totals = Totals with { SpoolCorruptEvents = value }; }

    /// <summary>Events lost or suspected lost, each once (<see cref="LossTotals.TotalLost"/>).</summary>
    public long Total => Totals.TotalLost;

    /// <summary>Whole batches lost, whose events could not all be counted (<see cref="LossTotals.BatchesLost"/>).</summary>
    public long BatchesLost => Totals.BatchesLost;

    /// <summary>Any loss at all, in events or batches (<see cref="LossTotals.AnyLoss"/>).</summary>
    public bool AnyLoss => Totals.AnyLoss;

    public static LossCounts From(LossTotals totals) => new() { Totals = totals };

    /// <summary>Kind by kind, saturating.</summary>
    public static LossCounts operator +(LossCounts a, LossCounts b)
    {
        long[] x = LossColumns.Values(a.Totals), y = LossColumns.Values(b.Totals);
        return From(LossColumns.Totals(i => Saturating.Add(Math.Max(0, x[i]), Math.Max(0, y[i]))));
    }
}

/// <summary>A stretch of time of one host: the agent up and reporting (Connected) or not.</summary>
internal sealed record CoverageInterval
{
    public required long StartUnixMs { get; init; }
    public required long EndUnixMs { get; init; }
    public string Start => ReportTime.Iso(StartUnixMs);
    public string End => ReportTime.Iso(EndUnixMs);
    public required bool Connected { get; init; }
    /// <summary>Loss reported by the batches whose interval starts in this stretch (the last stretch: or later), of the batches that reported loss.</summary>
    public LossCounts Loss { get; init; } = new();
}

/// <summary>A batch that reported loss (<see cref="LossTotals.AnyLoss"/>): when, and how much.</summary>
internal sealed record LossReport(long StartUnixMs, long EndUnixMs, LossCounts Loss)
{
    public string Start => ReportTime.Iso(StartUnixMs);
    public string End => ReportTime.Iso(EndUnixMs);
}

/// <summary>The rules hash an agent reported from a time on.</summary>
internal sealed record RulesChange(long AtUnixMs, string RulesHash)
{
    public string At => ReportTime.Iso(AtUnixMs);
}

/// <summary>Coverage of one host over the report range.</summary>
internal sealed record HostCoverage
{
    public required string AgentId { get; init; }
    public required string Hostname { get; init; }
    /// <summary>Last heartbeat or batch from this agent, ever (not limited to the range).</summary>
    public long? LastSeenUnixMs { get; init; }
    public string? LastSeen => LastSeenUnixMs is long ms ? ReportTime.Iso(ms) : null;
    /// <summary>Connected and disconnected stretches covering the whole range, in time order.</summary>
    public IReadOnlyList<CoverageInterval> Intervals { get; init; } = [];
    public IReadOnlyList<CoverageInterval> Connected => [.. Intervals.Where(i => i.Connected)];
    public IReadOnlyList<CoverageInterval> Disconnected => [.. Intervals.Where(i => !i.Connected)];
    public long ConnectedMs => Intervals.Where(i => i.Connected).Sum(i => i.EndUnixMs - i.StartUnixMs);
    public long DisconnectedMs => Intervals.Where(i => !i.Connected).Sum(i => i.EndUnixMs - i.StartUnixMs);
    /// <summary>Every batch that reported loss in the range, in time order.</summary>
    public IReadOnlyList<LossReport> LossReports { get; init; } = [];
    /// <summary>Every counter summed over all the host's batches in the range (not only those in <see cref="LossReports"/>), saturating.</summary>
    public LossCounts Loss { get; init; } = new();
    /// <summary>What the keys of the host's batches say: batches never received, refused, interleaving.</summary>
    public HostDelivery Delivery { get; init; } = new();
    /// <summary>Rules hash in force at the start of the range (or when first seen), then each change.</summary>
    public IReadOnlyList<RulesChange> RulesHashes { get; init; } = [];
    public string RulesHash => RulesHashes.Count > 0 ? RulesHashes[^1].RulesHash : "";
    public long Events { get; init; }
    public long Batches { get; init; }
    public long Heartbeats { get; init; }
    /// <summary>"continuous, complete" or "gaps: ..." naming each gap, delivery problem and loss, with its times.</summary>
    public required string Verdict { get; init; }
    /// <summary>Only when coverage is continuous, no loss of any kind was reported and delivery has no problem.</summary>
    public bool Complete { get; init; }
    /// <summary>The host against its group's central policy (the same row as in <see cref="ComplianceReport.Policy"/>).</summary>
    public HostPolicy? Policy { get; init; }
}

/// <summary>
/// One host's delivery over the range, from <see cref="IEventStore.GetDeliveryFactsAsync"/>: a view of its
/// <see cref="DeliveryFacts"/> (whose <see cref="DeliveryFacts.AnyProblem"/> is the definition), and its refusals by status.
/// </summary>
internal sealed record HostDelivery
{
    [JsonIgnore]
    public DeliveryFacts Facts { get; init; } = new() { AgentId = "" };

    public int Epochs => Facts.Epochs;
    public string LatestEpoch => Facts.LatestEpoch;
    /// <summary>Sequences missing within an epoch: neither stored nor refused.</summary>
    public long MissingSequences => Facts.MissingSequences;
    /// <summary>Of those, how many the agent reported dropped or unreadable in its spool.</summary>
    public long ExplainedByAgent => Facts.ExplainedByAgent;
    /// <summary>Missing batches nothing accounts for: loss of its own kind, in batches.</summary>
    public long DeliveryGaps => Facts.DeliveryGaps;
    /// <summary>The first missing ranges.</summary>
    public IReadOnlyList<DeliveryGapRange> Gaps => [.. Facts.Gaps.Select(g => new DeliveryGapRange(g.Epoch, g.From, g.To))];
    public long RefusedBatches => Facts.RefusedBatches;
    public long RefusedEvents => Facts.RefusedEvents;
    /// <summary>Keys refused because other content had taken them (ALREADY_EXISTS).</summary>
    public long Conflicts => Facts.Conflicts;
    public long RefusalsUnrecorded => Facts.RefusalsUnrecorded;
    /// <summary>Refused batches and their events per status, as recorded (first refused in the range).</summary>
    public IReadOnlyList<RefusalCount> RefusedByStatus { get; init; } = [];
    /// <summary>Two spools send as this agent.</summary>
    public bool InterleavedEpochs => Facts.InterleavedEpochs;
    /// <summary>Two machines send as this agent (a cloned agent id).</summary>
    public bool InterleavedBootIds => Facts.InterleavedBootIds;
    public bool AnyProblem => Facts.AnyProblem;
}

/// <summary>Sequences [From, To] of one epoch never received.</summary>
internal sealed record DeliveryGapRange(string Epoch, ulong From, ulong To)
{
    public ulong Batches => To - From + 1;
}

/// <summary>Batches refused with one status (a gRPC status name), and the events in them.</summary>
internal sealed record RefusalCount(string Status, long Batches, long Events);

/// <summary>The report's hosts summed: loss of every kind (saturating) and delivery problems.</summary>
internal sealed record CoverageTotals
{
    public int Hosts { get; init; }
    /// <summary>Hosts continuous and complete.</summary>
    public int Complete { get; init; }
    public long Events { get; init; }
    public LossCounts Loss { get; init; } = new();
    public long DeliveryGaps { get; init; }
    public long RefusedBatches { get; init; }
    public long RefusedEvents { get; init; }
    public long Conflicts { get; init; }
    public long RefusalsUnrecorded { get; init; }
    /// <summary>Hosts whose epochs or boot ids interleave.</summary>
    public int InterleavedHosts { get; init; }

    public static CoverageTotals Of(IReadOnlyList<HostCoverage> hosts) => new()
    {
        Hosts = hosts.Count,
        Complete = hosts.Count(h => h.Complete),
        Events = Saturating.Sum([.. hosts.Select(h => h.Events)]),
        Loss = hosts.Aggregate(new LossCounts(), (sum, h) => sum + h.Loss),
        DeliveryGaps = Saturating.Sum([.. hosts.Select(h => h.Delivery.DeliveryGaps)]),
        RefusedBatches = Saturating.Sum([.. hosts.Select(h => h.Delivery.RefusedBatches)]),
        RefusedEvents = Saturating.Sum([.. hosts.Select(h => h.Delivery.RefusedEvents)]),
        Conflicts = Saturating.Sum([.. hosts.Select(h => h.Delivery.Conflicts)]),
        RefusalsUnrecorded = Saturating.Sum([.. hosts.Select(h => h.Delivery.RefusalsUnrecorded)]),
        InterleavedHosts = hosts.Count(h => h.Delivery.InterleavedEpochs || h.Delivery.InterleavedBootIds),
    };
}

/// <summary>Events of one host in one UTC hour.</summary>
internal sealed record HourCount(string AgentId, long HourUnixMs, long Events)
{
    public string Hour => ReportTime.Iso(HourUnixMs);
}

/// <summary>Loss of one host in one UTC hour (by the start of the reporting batch).</summary>
internal sealed record HourLoss(string AgentId, long HourUnixMs, LossCounts Loss)
{
    public string Hour => ReportTime.Iso(HourUnixMs);
}

/// <summary>Commands run with euid 0: by host and login user, and the distinct command lines.</summary>
internal sealed record PrivilegedSection
{
    public IReadOnlyList<ControlRef> Controls { get; init; } = ReportControls.Privileged;
    public long Total { get; init; }
    /// <summary>Of <see cref="Total"/>, run with euid 0 by a login uid that is not 0 (sudo, su, setuid programs; unset included).</summary>
    public long Elevated { get; init; }
    public IReadOnlyList<PrivilegedByUser> ByUser { get; init; } = [];
    public IReadOnlyList<PrivilegedCommand> Commands { get; init; } = [];
    /// <summary>Distinct command rows not listed because of the row limit.</summary>
    public long CommandsOmitted { get; init; }
}

internal sealed record PrivilegedByUser(string AgentId, string Hostname, string LoginUser, long Commands, long Elevated);

internal sealed record PrivilegedCommand(string AgentId, string Hostname, string LoginUser, string Uid, string Exe, string Argv, long Count, long FirstUnixMs, long LastUnixMs)
{
    /// <summary>Who started the command: its ancestry, farthest first, then the command (<see cref="Sections.PrivilegedBuilder.ParentChain"/>).</summary>
    public string ParentChain { get; init; } = "";

    public string First => ReportTime.Iso(FirstUnixMs);
    public string Last => ReportTime.Iso(LastUnixMs);
}

/// <summary>Account and group changes, writes to identity files, authentications and logins.</summary>
internal sealed record IdentitySection
{
    public IReadOnlyList<ControlRef> Controls { get; init; } = ReportControls.Identity;
    /// <summary>Per host, record type and result: how many.</summary>
    public IReadOnlyList<IdentityCount> Counts { get; init; } = [];
    public IReadOnlyList<IdentityEvent> Events { get; init; } = [];
    public long EventsOmitted { get; init; }
}

/// <summary><paramref name="Category"/>: account, auth, login, session, identity-file. <paramref name="Result"/>: success, failed, or unknown.</summary>
internal sealed record IdentityCount(string AgentId, string Hostname, string Category, string Type, string Result, long Count);

internal sealed record IdentityEvent(long TimeUnixMs, string AgentId, string Hostname, string Category, string Type, string Result, string LoginUser, string Uid, string Exe, string Detail)
{
    public string Time => ReportTime.Iso(TimeUnixMs);
}

/// <summary>Calls refused with EACCES or EPERM, by user and path.</summary>
internal sealed record AccessFailureSection
{
    public IReadOnlyList<ControlRef> Controls { get; init; } = ReportControls.AccessFailures;
    public long Total { get; init; }
    public IReadOnlyList<AccessFailure> Rows { get; init; } = [];
    public long RowsOmitted { get; init; }
}

internal sealed record AccessFailure(string AgentId, string Hostname, string LoginUser, string Uid, string Error, string Path, string Exe, long Count, long FirstUnixMs, long LastUnixMs)
{
    public string First => ReportTime.Iso(FirstUnixMs);
    public string Last => ReportTime.Iso(LastUnixMs);
}

/// <summary>Changes to auditing itself: configuration, rules, the agent's takeover and restore, time, kernel modules.</summary>
internal sealed record AuditChangeSection
{
    public IReadOnlyList<ControlRef> Controls { get; init; } = ReportControls.AuditChanges;
    /// <summary>Per host and category (audit-config, time, kernel-module, agent-start, agent-silent, rules-change, retention): how many.</summary>
    public IReadOnlyList<AuditChangeCount> Counts { get; init; } = [];
    public IReadOnlyList<AuditChange> Changes { get; init; } = [];
    public long ChangesOmitted { get; init; }
}

internal sealed record AuditChangeCount(string AgentId, string Hostname, string Category, long Count);

internal sealed record AuditChange(long TimeUnixMs, string AgentId, string Hostname, string Category, string Type, string Result, string LoginUser, string Exe, string Detail)
{
    public string Time => ReportTime.Iso(TimeUnixMs);
}

/// <summary>Rules in force per host against a baseline rules file.</summary>
internal sealed record BaselineSection
{
    public IReadOnlyList<ControlRef> Controls { get; init; } = ReportControls.Baseline;
    /// <summary>The baseline file, or null when none was given (the section is then empty).</summary>
    public string? BaselinePath { get; init; }
    /// <summary>The baseline's rules in <c>auditctl -l</c> form.</summary>
    public IReadOnlyList<string> BaselineRules { get; init; } = [];
    public IReadOnlyList<HostBaseline> Hosts { get; init; } = [];
}

/// <summary>One host against the baseline. <see cref="Known"/> is false when the agent never reported its rule lines.</summary>
internal sealed record HostBaseline(string AgentId, string Hostname, string RulesHash, bool Known, int RulesInForce, IReadOnlyList<string> Missing, IReadOnlyList<string> Extra)
{
    public bool Compliant => Known && Missing.Count == 0;
}

/// <summary>Central policy over the range: each group's policy at its end, each host against it, and the policies set in the range.</summary>
internal sealed record PolicySection
{
    public IReadOnlyList<ControlRef> Controls { get; init; } = ReportControls.Policy;
    /// <summary>Each group's policy at the end of the range (the last set before it).</summary>
    public IReadOnlyList<GroupPolicyAt> Groups { get; init; } = [];
    /// <summary>Every host in scope, in agent id order.</summary>
    public IReadOnlyList<HostPolicy> Hosts { get; init; } = [];
    /// <summary>The hosts whose policy in force differs from their group's: refused, pending, local, stale, or never reported.</summary>
    public IReadOnlyList<string> Differing { get; init; } = [];
    /// <summary>Policies set in the range, in time order.</summary>
    public IReadOnlyList<GroupPolicyAt> Changes { get; init; } = [];
}

/// <summary>A group's central policy from a time on: its hash, and who set it.</summary>
internal sealed record GroupPolicyAt(string Group, string Hash, long SetUnixMs, string SetBy)
{
    public string Set => ReportTime.Iso(SetUnixMs);
}

/// <summary>
/// One host against its group's central policy, as its last heartbeat before the end of the range reported it.
/// <see cref="State"/> is <see cref="Sluice.Collector.Policy.PolicyStatus.State"/>'s (in-force, refused, pending, local,
/// stale, unknown; none or kept when the group has no policy).
/// </summary>
internal sealed record HostPolicy(
    string AgentId, string Hostname, string Group, string State, bool Differs, string GroupPolicy, string InForce, string RefusedHash, string Refusal,
    long? LastHeartbeatUnixMs)
{
    public string? LastHeartbeat => LastHeartbeatUnixMs is long ms ? ReportTime.Iso(ms) : null;
}
