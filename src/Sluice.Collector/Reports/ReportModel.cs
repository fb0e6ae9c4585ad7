namespace Sluice.Collector.Reports;

/// <summary>What a report covers: [FromUnixMs, ToUnixMs) UTC, one agent or all, and an optional baseline rules file.</summary>
/// <param name="MaxSilenceMs">Longer than this without a heartbeat or a batch interval, an agent counts as disconnected.</param>
/// <param name="MaxRows">Detail rows per section at most (the totals always count everything).</param>
public sealed record ReportRequest(long FromUnixMs, long ToUnixMs, string? AgentId, string? BaselineRulesPath)
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
public sealed record ComplianceReport
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
    public IReadOnlyList<ControlRef> CoverageControls => ReportControls.Coverage;
    public IReadOnlyList<HostCoverage> Coverage { get; init; } = [];
    public PrivilegedSection Privileged { get; init; } = new();
    public IdentitySection Identity { get; init; } = new();
    public AccessFailureSection AccessFailures { get; init; } = new();
    public AuditChangeSection AuditChanges { get; init; } = new();
    public BaselineSection Baseline { get; init; } = new();
    /// <summary>Events per host per UTC hour (only hours with events).</summary>
    public IReadOnlyList<HourCount> EventsPerHour { get; init; } = [];
    /// <summary>Events lost per host per UTC hour, by kind (only hours with loss).</summary>
    public IReadOnlyList<HourLoss> LossOverTime { get; init; } = [];
}

/// <summary>A control a section evidences, e.g. PCI DSS 10.2.1.2.</summary>
public sealed record ControlRef(string Framework, string Id, string Title);

/// <summary>Loss counted by kind. Total is what was lost or suspected lost.</summary>
public sealed record LossCounts
{
    public long KernelLost { get; init; }
    public long SocketOverruns { get; init; }
    public long SerialGaps { get; init; }
    public long SpoolDropped { get; init; }
    public long ReassemblyEvicted { get; init; }
    public long Total => KernelLost + SocketOverruns + SerialGaps + SpoolDropped + ReassemblyEvicted;

    public static LossCounts operator +(LossCounts a, LossCounts b) => new()
    {
        KernelLost = a.KernelLost + b.KernelLost,
        SocketOverruns = a.SocketOverruns + b.SocketOverruns,
        SerialGaps = a.SerialGaps + b.SerialGaps,
        SpoolDropped = a.SpoolDropped + b.SpoolDropped,
        ReassemblyEvicted = a.ReassemblyEvicted + b.ReassemblyEvicted,
    };
}

/// <summary>A stretch of time of one host: the agent up and reporting (Connected) or not.</summary>
public sealed record CoverageInterval
{
    public required long StartUnixMs { get; init; }
    public required long EndUnixMs { get; init; }
    public string Start => ReportTime.Iso(StartUnixMs);
    public string End => ReportTime.Iso(EndUnixMs);
    public required bool Connected { get; init; }
    /// <summary>Loss reported by the batches whose interval starts in this stretch.</summary>
    public LossCounts Loss { get; init; } = new();
}

/// <summary>A batch or heartbeat that reported loss: when, and how much.</summary>
public sealed record LossReport(long StartUnixMs, long EndUnixMs, LossCounts Loss)
{
    public string Start => ReportTime.Iso(StartUnixMs);
    public string End => ReportTime.Iso(EndUnixMs);
}

/// <summary>The rules hash an agent reported from a time on.</summary>
public sealed record RulesChange(long AtUnixMs, string RulesHash)
{
    public string At => ReportTime.Iso(AtUnixMs);
}

/// <summary>Coverage of one host over the report range.</summary>
public sealed record HostCoverage
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
    public LossCounts Loss { get; init; } = new();
    /// <summary>Rules hash in force at the start of the range (or when first seen), then each change.</summary>
    public IReadOnlyList<RulesChange> RulesHashes { get; init; } = [];
    public string RulesHash => RulesHashes.Count > 0 ? RulesHashes[^1].RulesHash : "";
    public long Events { get; init; }
    public long Batches { get; init; }
    public long Heartbeats { get; init; }
    /// <summary>"continuous, complete" or "gaps: ..." naming each gap and loss with its times.</summary>
    public required string Verdict { get; init; }
    public bool Complete { get; init; }
}

/// <summary>Events of one host in one UTC hour.</summary>
public sealed record HourCount(string AgentId, long HourUnixMs, long Events)
{
    public string Hour => ReportTime.Iso(HourUnixMs);
}

/// <summary>Loss of one host in one UTC hour (by the start of the reporting batch).</summary>
public sealed record HourLoss(string AgentId, long HourUnixMs, LossCounts Loss)
{
    public string Hour => ReportTime.Iso(HourUnixMs);
}

/// <summary>Commands run with euid 0: by host and login user, and the distinct command lines.</summary>
public sealed record PrivilegedSection
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

public sealed record PrivilegedByUser(string AgentId, string Hostname, string LoginUser, long Commands, long Elevated);

public sealed record PrivilegedCommand(string AgentId, string Hostname, string LoginUser, string Uid, string Exe, string Argv, long Count, long FirstUnixMs, long LastUnixMs)
{
    public string First => ReportTime.Iso(FirstUnixMs);
    public string Last => ReportTime.Iso(LastUnixMs);
}

/// <summary>Account and group changes, writes to identity files, authentications and logins.</summary>
public sealed record IdentitySection
{
    public IReadOnlyList<ControlRef> Controls { get; init; } = ReportControls.Identity;
    /// <summary>Per host, record type and result: how many.</summary>
    public IReadOnlyList<IdentityCount> Counts { get; init; } = [];
    public IReadOnlyList<IdentityEvent> Events { get; init; } = [];
    public long EventsOmitted { get; init; }
}

/// <summary><paramref name="Category"/>: account, auth, login, session, identity-file. <paramref name="Result"/>: success, failed, or unknown.</summary>
public sealed record IdentityCount(string AgentId, string Hostname, string Category, string Type, string Result, long Count);

public sealed record IdentityEvent(long TimeUnixMs, string AgentId, string Hostname, string Category, string Type, string Result, string LoginUser, string Uid, string Exe, string Detail)
{
    public string Time => ReportTime.Iso(TimeUnixMs);
}

/// <summary>Calls refused with EACCES or EPERM, by user and path.</summary>
public sealed record AccessFailureSection
{
    public IReadOnlyList<ControlRef> Controls { get; init; } = ReportControls.AccessFailures;
    public long Total { get; init; }
    public IReadOnlyList<AccessFailure> Rows { get; init; } = [];
    public long RowsOmitted { get; init; }
}

public sealed record AccessFailure(string AgentId, string Hostname, string LoginUser, string Uid, string Error, string Path, string Exe, long Count, long FirstUnixMs, long LastUnixMs)
{
    public string First => ReportTime.Iso(FirstUnixMs);
    public string Last => ReportTime.Iso(LastUnixMs);
}

/// <summary>Changes to auditing itself: configuration, rules, the agent's takeover and restore, time, kernel modules.</summary>
public sealed record AuditChangeSection
{
    public IReadOnlyList<ControlRef> Controls { get; init; } = ReportControls.AuditChanges;
    /// <summary>Per host and category (config, time, module, agent-start, agent-stop, rules-hash): how many.</summary>
    public IReadOnlyList<AuditChangeCount> Counts { get; init; } = [];
    public IReadOnlyList<AuditChange> Changes { get; init; } = [];
    public long ChangesOmitted { get; init; }
}

public sealed record AuditChangeCount(string AgentId, string Hostname, string Category, long Count);

public sealed record AuditChange(long TimeUnixMs, string AgentId, string Hostname, string Category, string Type, string Result, string LoginUser, string Exe, string Detail)
{
    public string Time => ReportTime.Iso(TimeUnixMs);
}

/// <summary>Rules in force per host against a baseline rules file.</summary>
public sealed record BaselineSection
{
    public IReadOnlyList<ControlRef> Controls { get; init; } = ReportControls.Baseline;
    /// <summary>The baseline file, or null when none was given (the section is then empty).</summary>
    public string? BaselinePath { get; init; }
    /// <summary>The baseline's rules in <c>auditctl -l</c> form.</summary>
    public IReadOnlyList<string> BaselineRules { get; init; } = [];
    public IReadOnlyList<HostBaseline> Hosts { get; init; } = [];
}

/// <summary>One host against the baseline. <see cref="Known"/> is false when the agent never reported its rule lines.</summary>
public sealed record HostBaseline(string AgentId, string Hostname, string RulesHash, bool Known, int RulesInForce, IReadOnlyList<string> Missing, IReadOnlyList<string> Extra)
{
    public bool Compliant => Known && Missing.Count == 0;
}
