using System.Globalization;

namespace Sluice.Benchmarks.Fleet;

/// <summary>
/// <c>fleet --agents N --seconds S --store sqlite|postgres [--connections C] [--batch-median 20] [--burst-every K]
/// [--burst-size 2000] [--heartbeat-seconds 30] [--batch-interval-ms 1000] [--fleet-poll-seconds 5]
/// [--collector-arg ARG]...</c>: what one fleet run simulates.
/// </summary>
internal sealed record FleetOptions
{
    public int Agents { get; init; }
    public int Seconds { get; init; }
    public string Store { get; init; } = "";
    /// <summary>HTTP/2 connections the agents share (agent i uses connection i % C); the default, one per agent.</summary>
    public int Connections { get; init; }
    public int BatchMedian { get; init; } = 20;
    /// <summary>One batch in this many is a burst (0: none).</summary>
    public int BurstEvery { get; init; } = 5000;
    public int BurstSize { get; init; } = 2000;
    public int HeartbeatSeconds { get; init; } = 30;
    public int BatchIntervalMs { get; init; } = 1000;
    /// <summary>
    /// Over how many seconds the agents come up, one after the other, evenly (0: all in the first batch interval). A fleet
    /// whose hosts start over a minute, or agents reconnecting with their jittered backoff, against every agent's first
    /// connection in the same second.
    /// </summary>
    public int RampSeconds { get; init; }
    /// <summary>How often <c>/api/fleet</c> is asked during the run (0: never).</summary>
    public int FleetPollSeconds { get; init; } = 5;
    /// <summary>Passed on to <c>sluice-collector serve</c> as they are (for a before/after of one of its options).</summary>
    public IReadOnlyList<string> CollectorArgs { get; init; } = [];

    public const string Usage =
        "usage: fleet --agents N --seconds S --store sqlite|postgres [--connections C] [--batch-median 20] " +
        "[--burst-every K (0: none)] [--burst-size 2000] [--heartbeat-seconds 30] [--batch-interval-ms 1000] " +
        "[--ramp-seconds 0] [--fleet-poll-seconds 5 (0: none)] [--collector-arg ARG]...";

    /// <summary>The options after the verb (<c>args[0]</c> is <c>fleet</c>); throws <see cref="ArgumentException"/> naming the option at fault.</summary>
    public static FleetOptions Parse(IReadOnlyList<string> args)
    {
        var o = new FleetOptions();
        int? connections = null;
        var collectorArgs = new List<string>();
        for (int i = 1; i < args.Count; i++)
        {
            string name = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{name} needs a value");
            int Int(int min, int max)
            {
                string v = Value();
                if (!int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < min || n > max)
                {
                    throw new ArgumentException($"{name} {v}: must be a whole number from {min} to {max}");
                }
                return n;
            }
            o = name switch
            {
                "--agents" => o with { Agents = Int(1, 100_000) },
                "--seconds" => o with { Seconds = Int(1, 24 * 3600) },
                "--store" => o with { Store = Value() is "sqlite" or "postgres" ? args[i] : throw new ArgumentException($"--store {args[i]}: sqlite or postgres") },
                "--connections" => o with { Connections = (connections = Int(1, 100_000)).Value },
                "--batch-median" => o with { BatchMedian = Int(1, 50_000) },
                "--burst-every" => o with { BurstEvery = Int(0, int.MaxValue) },
                "--burst-size" => o with { BurstSize = Int(1, 50_000) },
                "--heartbeat-seconds" => o with { HeartbeatSeconds = Int(1, 3600) },
                "--batch-interval-ms" => o with { BatchIntervalMs = Int(10, 3_600_000) },
                "--fleet-poll-seconds" => o with { FleetPollSeconds = Int(0, 3600) },
                "--ramp-seconds" => o with { RampSeconds = Int(0, 3600) },
                "--collector-arg" => Add(o, collectorArgs, Value()),
                _ => throw new ArgumentException($"unknown option {name}"),
            };
        }
        if (o.Agents == 0 || o.Seconds == 0 || o.Store.Length == 0)
        {
            throw new ArgumentException("--agents, --seconds and --store are required");
        }
        if (o.RampSeconds >= o.Seconds)
        {
            throw new ArgumentException($"--ramp-seconds {o.RampSeconds}: must be shorter than the run (--seconds {o.Seconds})");
        }
        if (connections > o.Agents)
        {
            throw new ArgumentException($"--connections {connections}: more than the {o.Agents} agents");
        }
        return o with { Connections = connections ?? o.Agents, CollectorArgs = collectorArgs };
    }

    private static FleetOptions Add(FleetOptions o, List<string> list, string value)
    {
        list.Add(value);
        return o;
    }

    /// <summary>When agent <paramref name="index"/> (from 0) comes up, in milliseconds from the start: evenly over the ramp.</summary>
    public double StartMs(int index) => (double)RampSeconds * 1000 * index / Agents;

    /// <summary>Batches the fleet is asked to send in the run: every agent, one per interval from the moment it comes up.</summary>
    public long OfferedBatches => (long)Math.Round(((double)Agents * Seconds * 1000 - (double)RampSeconds * 1000 * (Agents - 1) / 2) / BatchIntervalMs);
}
