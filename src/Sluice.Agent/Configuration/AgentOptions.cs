using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Sluice.Agent.Configuration;

/// <summary>How the agent gets records.</summary>
internal enum AgentMode
{
    /// <summary>Own kernel audit: stop auditd, configure the kernel, load rules, claim the consumer PID.</summary>
    Unicast,
    /// <summary>Compatibility: leave auditd running and listen on AUDIT_NLGRP_READLOG. No settings or rules change.</summary>
    Multicast,
}

/// <summary>What to do when another process is the registered audit consumer at start.</summary>
internal enum TakeoverPolicy
{
    /// <summary>Stop auditd; refuse any other consumer, naming it.</summary>
    Auditd,
    /// <summary>Stop auditd, and SIGTERM any other consumer too.</summary>
    Force,
    /// <summary>Never stop anything: refuse if any consumer is registered.</summary>
    Never,
}

/// <summary>The agent's configuration: agent.json, overridden by SLUICE_* environment variables.</summary>
internal sealed class AgentOptions
{
    public AgentMode Mode { get; set; } = AgentMode.Unicast;

    /// <summary>This agent's id at the collector; default /etc/machine-id.</summary>
    public string? AgentId { get; set; }

    public TakeoverPolicy Takeover { get; set; } = TakeoverPolicy.Auditd;

    /// <summary>Disable (systemd) auditd.service and audit-rules.service while the agent owns audit.</summary>
    public bool DisableAuditdService { get; set; } = true;

    /// <summary>Seconds to wait for the kernel to show no consumer after stopping auditd.</summary>
    [Range(1, 300)]
    public int TakeoverTimeoutSeconds { get; set; } = 15;

    /// <summary>Holds the kernel snapshot (kernel-state.json) and the rules the agent added.</summary>
    [Required(AllowEmptyStrings = false)]
    public string StateDirectory { get; set; } = "/var/lib/sluice";

    [Required]
    [ValidateObjectMembers]
    public KernelOptions Kernel { get; set; } = new();

    [Required]
    public RulesOptions Rules { get; set; } = new();

    [Required]
    [ValidateObjectMembers]
    public DrainOptions Drain { get; set; } = new();

    [Required]
    [ValidateObjectMembers]
    public ReservoirOptions Reservoir { get; set; } = new();

    [Required]
    [ValidateObjectMembers]
    public MonitorOptions Monitor { get; set; } = new();

    [Required]
    [ValidateObjectMembers]
    public ReassemblyOptions Reassembly { get; set; } = new();

    [Required]
    public InterpretationOptions Interpretation { get; set; } = new();

    /// <summary>The process table: parent, ancestry, container and unit on every event (docs/process-context.md).</summary>
    [Required]
    [ValidateObjectMembers]
    public EnrichmentOptions Enrichment { get; set; } = new();

    /// <summary>Ordered filter rules; the first that matches decides. No match keeps the event.</summary>
    [ValidateEnumeratedItems]
    public List<FilterRuleOptions> Filters { get; set; } = new();

    [Required]
    public SinkOptions Sink { get; set; } = new();

    [Required]
    [ValidateObjectMembers]
    public StatusOptions Status { get; set; } = new();

    [Required]
    public PolicyOptions Policy { get; set; } = new();

    // The delivery sections, for the Collector sink. They are validated by their own validators,
    // and only when a collector is the sink (CollectorUrl is required then, not otherwise).
#pragma warning disable SYSLIB1212
    public Spool.SpoolOptions Spool { get; set; } = new();

    public Shipping.ShipperOptions Shipping { get; set; } = new();

    public Shipping.BatcherOptions Batching { get; set; } = new();
#pragma warning restore SYSLIB1212

    /// <summary>
    /// Keys the agent once documented and has no more, with the reason given when a config still
    /// sets one. Like any unknown key they stop the agent (the binder refuses unknown keys); this
    /// only makes the message say why.
    /// </summary>
    /// <remarks>None at present: <c>Status:MetricsListen</c>, once refused here, serves metrics now.</remarks>
    internal static readonly IReadOnlyDictionary<string, string> RemovedKeys = new Dictionary<string, string>();

    /// <summary>Throws, naming the key and why, when <paramref name="configuration"/> sets one of <see cref="RemovedKeys"/>.</summary>
    /// <exception cref="InvalidOperationException">A removed key is set (even to an empty value).</exception>
    internal static void RefuseRemovedKeys(IConfiguration configuration)
    {
        foreach (var (key, reason) in RemovedKeys)
        {
            if (configuration.GetSection(key).Exists())
            {
                throw new InvalidOperationException($"{key}: {reason}");
            }
        }
    }
}

/// <summary>Kernel settings applied at start, one field at a time.</summary>
internal sealed class KernelOptions
{
    /// <summary>0 silent, 1 printk (default), 2 panic (only with AllowPanic).</summary>
    [Range(0, 2)]
    public uint Failure { get; set; } = 1;

    [Range(1, 16_777_216)]
    public uint BacklogLimit { get; set; } = 65752;

    /// <summary>Upper bound the loss monitor may raise backlog_limit to.</summary>
    [Range(1, 16_777_216)]
    public uint MaxBacklogLimit { get; set; } = 524_288;

    /// <summary>Jiffies a task may sleep when the backlog is full; 0 = never stall the host.</summary>
    [Range(0, 600_000)]
    public uint BacklogWaitTime { get; set; }

    [Range(0, 1_000_000)]
    public uint RateLimit { get; set; }

    /// <summary>Allow "-e 2" (immutable until reboot) from the rules file.</summary>
    public bool AllowImmutable { get; set; }

    /// <summary>Allow failure mode 2 (panic on the first lost record).</summary>
    public bool AllowPanic { get; set; }
}

internal sealed class RulesOptions
{
    public const string DefaultFile = "/etc/sluice/audit.rules";

    /// <summary>Rules files in auditctl syntax, loaded in order. Not set: /etc/sluice/audit.rules; empty: no rules.</summary>
    /// <remarks>Null by default because the configuration binder appends to a pre-filled list.</remarks>
    public List<string>? Files { get; set; }

    public IReadOnlyList<string> EffectiveFiles => Files ?? [DefaultFile];

    /// <summary>Delete every loaded rule not in the files, not only those the agent added before.</summary>
    public bool OwnAllRules { get; set; }
}

internal sealed class DrainOptions
{
    /// <summary>Time between drains when calm.</summary>
    [Range(1, 60_000)]
    public int IntervalMs { get; set; } = 200;

    /// <summary>Shortest interval under pressure; at this floor the drain reads continuously.</summary>
    [Range(1, 60_000)]
    public int MinIntervalMs { get; set; } = 10;

    /// <summary>At most this many records per drain; a drain that hits it runs again at once.</summary>
    [Range(64, 10_000_000)]
    public int BatchCap { get; set; } = 50_000;

    /// <summary>Datagrams per recvmmsg call.</summary>
    [Range(1, 1024)]
    public int ReceiveBatch { get; set; } = 64;
}

internal sealed class ReservoirOptions
{
    /// <summary>Receive buffer requested at start, before any rate is measured.</summary>
    [Range(65_536, int.MaxValue / 2)]
    public int InitialBufferBytes { get; set; } = 32 << 20;

    /// <summary>Cap for the receive buffer (SO_RCVBUFFORCE).</summary>
    [Range(65_536, int.MaxValue / 2)]
    public int MaxBufferBytes { get; set; } = 256 << 20;

    /// <summary>Estimated kernel memory per queued record (skb truesize), until measured.</summary>
    [Range(256, 65_536)]
    public int RecordTruesizeBytes { get; set; } = 1280;

    /// <summary>Safety factor over rate × interval × truesize.</summary>
    [Range(1.0, 100.0)]
    public double Headroom { get; set; } = 4.0;
}

internal sealed class MonitorOptions
{
    [Range(100, 60_000)]
    public int IntervalMs { get; set; } = 1000;

    /// <summary>Socket fill (0..1) above which the drain is sped up.</summary>
    [Range(0.05, 0.95)]
    public double FillThreshold { get; set; } = 0.5;

    /// <summary>Calm monitor ticks before the interval is relaxed one step.</summary>
    [Range(1, 3600)]
    public int CalmTicksToRelax { get; set; } = 30;

    /// <summary>Check that nobody else changed settings or rules, and reassert them.</summary>
    public bool Watchdog { get; set; } = true;

    /// <summary>With the Collector sink: how often the agent sends a heartbeat (its figures, loss totals and rules in force).</summary>
    [Range(1000, 3_600_000)]
    public int HeartbeatIntervalMs { get; set; } = 30_000;
}

internal sealed class ReassemblyOptions
{
    [Range(1, 600_000)]
    public int TimeoutMs { get; set; } = 2000;

    [Range(16, 10_000_000)]
    public int MaxInFlightEvents { get; set; } = 65_536;

    [Range(65_536, int.MaxValue)]
    public long MaxInFlightBytes { get; set; } = 64L << 20;

    /// <summary>These settings as the reassembler takes them.</summary>
    public Sluice.Audit.Records.AuditReassemblerOptions ToReassemblerOptions() => new()
    {
        Timeout = TimeSpan.FromMilliseconds(TimeoutMs),
        MaxInFlightEvents = MaxInFlightEvents,
        MaxInFlightBytes = MaxInFlightBytes,
    };
}

/// <summary>Where the records of an event shipped to the collector are interpreted.</summary>
internal enum InterpretationSite
{
    /// <summary>
    /// The agent ships the records and their header only (the raw form); the collector interprets them
    /// with the same code before it stores them. The agent's cheapest setting.
    /// </summary>
    Collector,
    /// <summary>The agent interprets each event and ships the records with the fields.</summary>
    Agent,
}

/// <summary>Where events are interpreted, and what the interpretation adds to each event.</summary>
internal sealed class InterpretationOptions
{
    /// <summary>
    /// Collector sink only (the JSON Lines and stdout sinks always write interpreted events): where the
    /// records are interpreted. <see cref="ResolveNames"/> makes it the agent, whatever this says:
    /// names are this host's.
    /// </summary>
    public InterpretationSite At { get; set; } = InterpretationSite.Collector;

    /// <summary>
    /// Add account names of the ids (uid_name, auid_name, euid_name, gid_name, egid_name, ...) from this host's
    /// passwd and group files, read directly (no NSS: LDAP or sssd users stay numeric) and cached.
    /// Off by default: the numbers are what the kernel logged, and names are only right for the host that resolves them.
    /// </summary>
    public bool ResolveNames { get; set; }

    /// <summary>Directory holding etc/passwd and etc/group; "/" for this host's.</summary>
    public string AccountsRoot { get; set; } = "/";
}

/// <summary>Where events go.</summary>
internal enum SinkType
{
    /// <summary>JSON Lines, one event per line, in the replay format, to a file.</summary>
    JsonLines,
    /// <summary>JSON Lines to standard output.</summary>
    Stdout,
    /// <summary>Disk spool, then gRPC to the collector.</summary>
    Collector,
}

internal sealed class SinkOptions
{
    /// <summary>
    /// Where events go. Left unset, it follows from the configuration (<see cref="TypeFrom"/>):
    /// the collector when <c>Shipping:CollectorUrl</c> (or <c>CollectorUrls</c>) is set, the JSON Lines file otherwise.
    /// </summary>
    public SinkType Type { get; set; } = SinkType.JsonLines;

    /// <summary>
    /// The sink that <paramref name="configuration"/> asks for: <c>Sink:Type</c> when it is set;
    /// otherwise <see cref="SinkType.Collector"/> when <c>Shipping:CollectorUrl</c> or <c>Shipping:CollectorUrls</c> is set (an agent
    /// given a collector ships to it: spool, then shipper), and <see cref="SinkType.JsonLines"/>
    /// when there is nowhere to ship. Null when <c>Sink:Type</c> is not a sink's name; binding
    /// then reports the key.
    /// </summary>
    public static SinkType? TypeFrom(IConfiguration configuration)
    {
        string? type = configuration["Sink:Type"];
        if (type is null)
        {
            bool collectors = !string.IsNullOrWhiteSpace(configuration["Shipping:CollectorUrl"])
                || configuration.GetSection("Shipping:CollectorUrls").GetChildren().Any(url => !string.IsNullOrWhiteSpace(url.Value));
            return collectors ? SinkType.Collector : SinkType.JsonLines;
        }
        return Enum.TryParse<SinkType>(type, ignoreCase: true, out var parsed) && Enum.IsDefined(parsed) ? parsed : null;
    }

    /// <summary>File for <see cref="SinkType.JsonLines"/>.</summary>
    public string Path { get; set; } = "/var/log/sluice/events.jsonl";
}

internal sealed class StatusOptions
{
    /// <summary>Unix socket on which the running agent answers status queries.</summary>
    [Required(AllowEmptyStrings = false)]
    public string Socket { get; set; } = "/run/sluice/agent.sock";

    /// <summary>
    /// HOST:PORT on which the agent serves Prometheus text at <c>/metrics</c> (docs/metrics.md), e.g.
    /// <c>127.0.0.1:9464</c>; empty (the default): no listener. Checked by <see cref="Metrics.MetricsListen.Parse"/>.
    /// </summary>
    public string MetricsListen { get; set; } = "";
}

/// <summary>Central policy: rules and filters the collector holds for the agent's group, sent in heartbeat replies.</summary>
internal sealed class PolicyOptions
{
    /// <summary>
    /// Put the central policy in force (and, at start, the last good one kept in StateDirectory/policy.json)
    /// instead of Rules:Files and Filters. False: the local files only; policies in replies are ignored.
    /// </summary>
    public bool Enabled { get; set; } = true;
}
