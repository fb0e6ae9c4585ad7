using System.Globalization;
using System.Text;
using Sluice.Benchmarks.Harness;
using CompareOptions = Sluice.Benchmarks.Harness.CompareOptions;

namespace Sluice.Benchmarks.Stages;

/// <summary>One level's measurement in one repetition, as <see cref="StageMeasurement"/> prints it.</summary>
public sealed record StageSample(string Level, int Repetition, long Events, double CpuUs, long AllocatedBytes)
{
    /// <summary>Parses <c>stage-level NAME REPETITION EVENTS CPU_US ALLOCATED_BYTES</c>; null for any other line.</summary>
    public static StageSample? Parse(string line)
    {
        var p = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (p.Length != 6 || p[0] != "stage-level")
        {
            return null;
        }
        var inv = CultureInfo.InvariantCulture;
        return int.TryParse(p[2], NumberStyles.None, inv, out int rep)
            && long.TryParse(p[3], NumberStyles.AllowLeadingSign, inv, out long events)
            && double.TryParse(p[4], NumberStyles.Float, inv, out double cpu)
            && long.TryParse(p[5], NumberStyles.None, inv, out long allocated)
            ? new StageSample(p[1], rep, events, cpu, allocated)
            : throw new FormatException($"malformed stage line: '{line}'");
    }
}

/// <summary>One stage's cost per event: the difference between its level and the level it builds on.</summary>
/// <param name="LevelCpuPerEvent">The level's CPU/event in each repetition (cumulative: every stage up to this one).</param>
public sealed record StageRow(string Stage, double? CpuUsPerEvent, double? AllocatedBytesPerEvent, IReadOnlyList<double> LevelCpuPerEvent, string Covers);

/// <summary>
/// Per-stage CPU and allocations per event, from the cumulative levels of a <c>stages</c> run:
/// each level's median over the repetitions, and each stage as its level's median minus the
/// median of the level it builds on (so the stages add up to the last level's median). The
/// receive stage is not replayed: it is the bare reader's CPU/event in the same comparison.
/// </summary>
public sealed class StageBreakdown
{
    /// <summary>Display order, and what each stage covers.</summary>
    public static readonly IReadOnlyList<(string Stage, string Covers)> Stages =
    [
        ("receive", "recvmmsg from the kernel into user space: the bare reader's CPU/event in the same comparison, at that rate"),
        ("reassemble", "records into events (AuditReassembler), with the agent's reassembly options"),
        ("filter", "the agent's configured filters on raw fields (EventFilter)"),
        ("interpret", "EventPipeline: the protobuf Event for the sink, in the form the agent is configured to write (raw: records wrapped, the collector interprets; interpreted: interpretation and mapping), into a sink that drops it"),
        ("serialize", "CollectorSink → Batcher: each event serialized into the batch buffer, batches cut"),
        ("spool", "the agent's host: batches appended to the disk spool (its fsync setting), read back and acknowledged"),
        ("compress", "Shipping:Compression Gzip: the compress level (gzip) minus the send level (None); in the total only when the agent is configured with it"),
        ("send", "the Shipper over gRPC to a collector in another process, uncompressed, until every batch is acknowledged"),
    ];

    /// <summary>The level each stage's level builds on (send is built on spool, compress on send).</summary>
    private static readonly Dictionary<string, string?> Base = new()
    {
        ["reassemble"] = null,
        ["filter"] = "reassemble",
        ["interpret"] = "filter",
        ["serialize"] = "interpret",
        ["spool"] = "serialize",
        ["send"] = "spool",
        ["compress"] = "send",
    };

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public StageBreakdown(LoadKind load, int captureRate, long records, long events, string compression, IReadOnlyList<StageSample> samples)
    {
        Load = load;
        CaptureRate = captureRate;
        Records = records;
        Events = events;
        Compression = compression;
        Samples = samples;
    }

    public LoadKind Load { get; }

    /// <summary>The rate the records were captured at (0: max).</summary>
    public int CaptureRate { get; }

    public long Records { get; }

    /// <summary>Events of the load in the capture (SYSCALL records with its key).</summary>
    public long Events { get; }

    public string Compression { get; }

    public IReadOnlyList<StageSample> Samples { get; }

    /// <summary>Anything that went wrong or is worth a footnote.</summary>
    public string? Note { get; init; }

    public string? WarmUp { get; init; }

    /// <summary>The form of the events the pipeline hands its sink: "raw" or "interpreted".</summary>
    public string Form { get; init; } = "?";

    /// <summary>The events each repetition's levels are divided by: what the reassemble level completed in that repetition.</summary>
    private long EventsOf(int repetition) =>
        Samples.FirstOrDefault(s => s.Level == "reassemble" && s.Repetition == repetition)?.Events is long e and > 0 ? e : 0;

    /// <summary>A level's CPU and allocated bytes per event in each repetition.</summary>
    public IReadOnlyList<(double Cpu, double Allocated)> Level(string name) =>
        Samples.Where(s => s.Level == name && EventsOf(s.Repetition) > 0).OrderBy(s => s.Repetition)
            .Select(s => (s.CpuUs / EventsOf(s.Repetition), (double)s.AllocatedBytes / EventsOf(s.Repetition))).ToList();

    private double? LevelCpu(string? name) => name is null ? 0 : ComparisonReport.Median(Level(name).Select(l => (double?)l.Cpu));

    private double? LevelAllocated(string? name) => name is null ? 0 : ComparisonReport.Median(Level(name).Select(l => (double?)l.Allocated));

    /// <summary>The in-process stages (receive excluded), in display order; a level not measured gives nulls.</summary>
    public IReadOnlyList<StageRow> Rows()
    {
        var rows = new List<StageRow>();
        foreach (var (stage, covers) in Stages.Skip(1))
        {
            string? under = Base[stage];
            rows.Add(new StageRow(stage,
                Difference(LevelCpu(stage), LevelCpu(under)),
                Difference(LevelAllocated(stage), LevelAllocated(under)),
                Level(stage).Select(l => l.Cpu).ToList(), covers));
        }
        return rows;
    }

    /// <summary>The top level's median: every in-process stage.</summary>
    public (double? Cpu, double? Allocated) InProcessTotal()
    {
        string top = Level("compress").Count > 0 && Compression != "None" ? "compress" : "send";
        return (LevelCpu(top), LevelAllocated(top));
    }

    private static double? Difference(double? a, double? b) => a is double x && b is double y ? x - y : null;

    /// <summary>What the comparison measured at one rate, medians: the bare reader's and Sluice's CPU/event, and Sluice's idle CPU spread over its events per second.</summary>
    public readonly record struct RateFigures(int Rate, double? Bare, double? Sluice, double? SluiceIdle = null);

    /// <summary>The breakdown, and per rate: receive + in-process against Sluice end to end.</summary>
    /// <param name="perRate">Per rate the comparison ran.</param>
    public string Markdown(IReadOnlyList<RateFigures> perRate)
    {
        var sb = new StringBuilder();
        string load = Load == LoadKind.Exec ? "exec" : "getppid";
        int reps = Samples.Select(s => s.Repetition).DefaultIfEmpty().Max();
        sb.AppendLine(string.Create(Inv,
            $"Per-stage breakdown, {load} load: {Events:N0} events ({Records:N0} records) captured from the kernel at {CompareOptions.RateName(CaptureRate)}/s with the trials' rule, ")
            + string.Create(Inv, $"replayed in one process through the agent's own classes, level by level (each level is the one before plus one stage; a stage is the difference of the medians of {reps} repetitions). ")
            + "CPU: the process's, every thread; allocated: bytes the GC handed out. Receive is not replayed: it is the bare reader's CPU/event. "
            + "Differences of a few hundredths of a µs, negative ones included, are noise.");
        sb.AppendLine();
        sb.AppendLine("| stage | CPU µs/event | allocated B/event | levels' CPU µs/event, each repetition (cumulative) | covers |");
        sb.AppendLine("|---|---:|---:|---|---|");
        double? bareAtCapture = perRate.FirstOrDefault(r => r.Rate == CaptureRate).Bare;
        sb.AppendLine($"| receive | {F(bareAtCapture)} | — | — | {Stages[0].Covers} ({CompareOptions.RateName(CaptureRate)}/s) |");
        foreach (var row in Rows())
        {
            string cpu = row.Stage == "compress" && Compression == "None" ? $"({F(row.CpuUsPerEvent)}: not configured)" : F(row.CpuUsPerEvent);
            sb.AppendLine($"| {row.Stage} | {cpu} | {F(row.AllocatedBytesPerEvent, 0)} | {string.Join(", ", row.LevelCpuPerEvent.Select(v => F(v)))} | {row.Covers} |");
        }
        var (total, allocated) = InProcessTotal();
        sb.AppendLine($"| **in-process total** | **{F(total)}** | **{F(allocated, 0)}** | | compression {Compression}, events in the {Form} form |");
        sb.AppendLine();
        if (perRate.Count > 0)
        {
            sb.AppendLine("Against Sluice end to end (the agent's CPU/event in the table above; the in-process stages are the same at every rate, receive is the bare reader's at that rate). "
                + "*Not in the stages*: what the agent spends beyond receiving and processing the events one after another: draining on a timer "
                + "(wake-ups, small drains), its other jobs (loss monitor, watchdog, heartbeat), batches cut by time rather than size, the runtime's own threads. "
                + "*Of which idle CPU*: what the agent burns with no load at all (its idle CPU in the table above), spread over the events it delivered per second: a cost per second, not per event, so per event it grows as the rate falls. "
                + "Negative: the replay cost more than the running agent (each level starts with a new connection, spool and a full GC, in a JIT process of its own).");
            sb.AppendLine();
            sb.AppendLine("| rate | receive µs | in-process µs | sum µs | Sluice end to end µs | not in the stages µs | share of end to end | of which idle CPU µs |");
            sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var (rate, bare, sluice, idle) in perRate.OrderBy(r => r.Rate == 0 ? int.MaxValue : r.Rate))
            {
                double? sum = bare is double b && total is double t ? b + t : null;
                double? rest = sluice is double s && sum is double u ? s - u : null;
                sb.AppendLine($"| {CompareOptions.RateName(rate)} | {F(bare)} | {F(total)} | {F(sum)} | {F(sluice)} | {F(rest)} | {P(ComparisonReport.Ratio(rest, sluice))} | {F(idle)} |");
            }
            sb.AppendLine();
        }
        if (WarmUp is not null || Note is not null)
        {
            sb.AppendLine(string.Join(" ", new[] { WarmUp is null ? null : $"JIT: {WarmUp}.", Note }.Where(x => x is not null)));
            sb.AppendLine();
        }
        return sb.ToString();
    }

    // Rounded first, and + 0.0 turns a negative zero into zero: "-0" would read as a saving.
    private static string F(double? v, int decimals = 2) => v is double x ? (Math.Round(x, decimals) + 0.0).ToString("F" + decimals, Inv) : "—";

    private static string P(double? v) => v is double x ? (x * 100).ToString("F0", Inv) + "%" : "—";
}
