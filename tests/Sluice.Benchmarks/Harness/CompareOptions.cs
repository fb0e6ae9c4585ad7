using System.Globalization;

namespace Sluice.Benchmarks.Harness;

/// <summary>The consumers the harness can run, in the order they run within a rate.</summary>
public enum ConsumerKind
{
    Bare,
    Auditd,
    Laurel,
    Sluice,

    /// <summary>The same agent with its process context (issue 19) turned off: <c>"Enrichment": {"Enabled": false}</c>.</summary>
    SluiceNoContext,
}

/// <summary>Command-line options of <c>compare</c>; <see cref="Parse"/> names the bad argument and why.</summary>
public sealed class CompareOptions
{
    /// <summary>Target rates in operations per second; 0 means as fast as the generator can go ("max").</summary>
    public IReadOnlyList<int> Rates { get; private set; } = [5000, 20000, 40000, 60000, 0];

    public int Runs { get; private set; } = 3;

    public double Seconds { get; private set; } = 10;

    public IReadOnlyList<ConsumerKind> Consumers { get; private set; } = [ConsumerKind.Bare, ConsumerKind.Auditd, ConsumerKind.Laurel, ConsumerKind.Sluice];

    public LoadKind Load { get; private set; } = LoadKind.Getppid;

    /// <summary>True when a Sluice agent runs (with or without enrichment): the agent and collector are needed.</summary>
    public bool UsesSluice => Consumers.Contains(ConsumerKind.Sluice) || Consumers.Contains(ConsumerKind.SluiceNoContext);

    /// <summary>
    /// The consumers in the order they run in <paramref name="run"/>: as given, except that when
    /// both Sluice variants run, they swap places on every even run, so that neither always runs
    /// first (a warmer page cache, a quieter moment) and the difference between them is not the order's.
    /// </summary>
    public IReadOnlyList<ConsumerKind> ConsumersFor(int run)
    {
        int on = IndexOf(ConsumerKind.Sluice);
        int off = IndexOf(ConsumerKind.SluiceNoContext);
        if (on < 0 || off < 0 || run % 2 == 1)
        {
            return Consumers;
        }
        var swapped = Consumers.ToArray();
        (swapped[on], swapped[off]) = (swapped[off], swapped[on]);
        return swapped;

        int IndexOf(ConsumerKind kind)
        {
            for (int i = 0; i < Consumers.Count; i++)
            {
                if (Consumers[i] == kind)
                {
                    return i;
                }
            }
            return -1;
        }
    }

    public string? OutFile { get; private set; }

    /// <summary>backlog_limit set for every consumer (Sluice gets it through its Kernel:BacklogLimit).</summary>
    public uint BacklogLimit { get; private set; } = 65752;

    /// <summary>backlog_wait_time in jiffies for every consumer (Kernel:BacklogWaitTime for Sluice).</summary>
    public uint BacklogWaitTime { get; private set; }

    /// <summary>Seconds of the same load, under another key, before each measured window (0: none), at the trial's rate but at most 20,000/s.</summary>
    public double WarmupSeconds { get; private set; } = 10;

    /// <summary>A consumer whose delivered count has not moved for this long is done.</summary>
    public double SettleSeconds { get; private set; } = 5;

    /// <summary>Longest wait for delivery after the generator finished.</summary>
    public double DrainTimeoutSeconds { get; private set; } = 300;

    /// <summary>sluice-agent executable; null until given or published (by default the harness publishes it with deploy/publish.sh, see <see cref="AgentPublish"/>).</summary>
    public string? AgentPath { get; private set; }

    /// <summary>sluice-collector executable; null until given or published with the agent.</summary>
    public string? CollectorPath { get; private set; }

    /// <summary>Where deploy/publish.sh publishes when no --agent or --collector is given.</summary>
    public string PublishDirectory { get; private set; } = AgentPublish.DefaultDirectory();

    /// <summary>Measure the per-stage breakdown after the trials (needs sluice among the consumers).</summary>
    public bool Stages { get; private set; } = true;

    /// <summary>Repetitions of each stage level; the breakdown takes their medians.</summary>
    public int StageRepetitions { get; private set; } = 3;

    /// <summary>Fills in the executables not given with the published ones.</summary>
    public void UsePublished(string agentPath, string collectorPath)
    {
        AgentPath ??= agentPath;
        CollectorPath ??= collectorPath;
    }

    /// <summary>Keep each trial's directory (logs, store, agent config) instead of deleting it.</summary>
    public bool KeepFiles { get; private set; }

    public const string Usage = """
        usage: compare [--rates 5000,20000,40000,60000,max] [--runs 3] [--seconds 10]
                       [--consumers bare,auditd,laurel,sluice,sluice-noctx] [--load getppid|exec] [--out FILE.md]
                       [--backlog-limit 65752] [--backlog-wait-time 0] [--warmup 10] [--settle 5] [--drain-timeout 300]
                       [--agent PATH] [--collector PATH] [--publish-dir DIR] [--no-stages] [--stage-repetitions 3] [--keep]
        """;

    public static CompareOptions Parse(IReadOnlyList<string> args)
    {
        var o = new CompareOptions();
        for (int i = 0; i < args.Count; i++)
        {
            string name = args[i];
            string Value()
            {
                if (i + 1 >= args.Count)
                {
                    throw new ArgumentException($"{name} needs a value");
                }
                return args[++i];
            }
            switch (name)
            {
                case "--rates":
                    o.Rates = ParseRates(Value());
                    break;
                case "--runs":
                    o.Runs = PositiveInt(name, Value());
                    break;
                case "--seconds":
                    o.Seconds = PositiveDouble(name, Value());
                    break;
                case "--consumers":
                    o.Consumers = ParseConsumers(Value());
                    break;
                case "--load":
                    o.Load = Value() switch
                    {
                        "getppid" => LoadKind.Getppid,
                        "exec" => LoadKind.Exec,
                        var v => throw new ArgumentException($"--load: '{v}' is not getppid or exec"),
                    };
                    break;
                case "--out":
                    o.OutFile = Value();
                    break;
                case "--backlog-limit":
                    o.BacklogLimit = (uint)PositiveInt(name, Value());
                    break;
                case "--backlog-wait-time":
                    o.BacklogWaitTime = uint.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out uint w)
                        ? w : throw new ArgumentException($"{name}: expected jiffies, a whole number ≥ 0");
                    break;
                case "--warmup":
                    o.WarmupSeconds = double.TryParse(Value(), NumberStyles.Float, CultureInfo.InvariantCulture, out double wu) && wu >= 0
                        ? wu : throw new ArgumentException("--warmup: expected seconds ≥ 0");
                    break;
                case "--settle":
                    o.SettleSeconds = PositiveDouble(name, Value());
                    break;
                case "--drain-timeout":
                    o.DrainTimeoutSeconds = PositiveDouble(name, Value());
                    break;
                case "--agent":
                    o.AgentPath = Value();
                    break;
                case "--collector":
                    o.CollectorPath = Value();
                    break;
                case "--publish-dir":
                    o.PublishDirectory = Value();
                    break;
                case "--no-stages":
                    o.Stages = false;
                    break;
                case "--stage-repetitions":
                    o.StageRepetitions = PositiveInt(name, Value());
                    break;
                case "--keep":
                    o.KeepFiles = true;
                    break;
                default:
                    throw new ArgumentException($"unknown option '{name}'");
            }
        }
        return o;
    }

    /// <summary><c>5000,20000,max</c> → 5000, 20000, 0 (0 = flat out).</summary>
    public static IReadOnlyList<int> ParseRates(string text)
    {
        var rates = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == "max")
            {
                rates.Add(0);
            }
            else if (int.TryParse(part.Replace("k", "000", StringComparison.Ordinal), NumberStyles.None, CultureInfo.InvariantCulture, out int r) && r > 0)
            {
                rates.Add(r);
            }
            else
            {
                throw new ArgumentException($"--rates: '{part}' is not a positive number of events per second or 'max'");
            }
        }
        return rates.Count > 0 ? rates : throw new ArgumentException("--rates: no rate given");
    }

    public static IReadOnlyList<ConsumerKind> ParseConsumers(string text)
    {
        var list = new List<ConsumerKind>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var kind = part switch
            {
                "bare" => ConsumerKind.Bare,
                "auditd" => ConsumerKind.Auditd,
                "laurel" => ConsumerKind.Laurel,
                "sluice" => ConsumerKind.Sluice,
                "sluice-noctx" => ConsumerKind.SluiceNoContext,
                _ => throw new ArgumentException($"--consumers: '{part}' is not one of bare, auditd, laurel, sluice, sluice-noctx"),
            };
            if (!list.Contains(kind))
            {
                list.Add(kind);
            }
        }
        return list.Count > 0 ? list : throw new ArgumentException("--consumers: no consumer given");
    }

    public static string RateName(int rate) => rate == 0 ? "max" : rate.ToString("N0", CultureInfo.InvariantCulture);

    private static int PositiveInt(string name, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v > 0
            ? v : throw new ArgumentException($"{name}: '{value}' is not a whole number > 0");

    private static double PositiveDouble(string name, string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v > 0
            ? v : throw new ArgumentException($"{name}: '{value}' is not a number > 0");
}
