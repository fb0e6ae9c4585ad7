using Sluice.Testing;

namespace Sluice.Benchmarks.Harness;

/// <summary>
/// Samples the CPU of a consumer's processes (and, apart, its collector's) from /proc, keeping
/// the last value seen for a process that has gone, and optionally each thread's.
/// </summary>
public sealed class CpuMeter(IReadOnlyList<int> consumer, IReadOnlyList<int> collector, bool threads)
{
    private static readonly Lazy<int?> s_kauditd = new(FindKauditd);

    private readonly Dictionary<int, long> _last = new();

    /// <summary>One sample: ticks of the consumer's and of the collector's processes (children that exited included), and per thread.</summary>
    public sealed record CpuSample(long Consumer, long Collector, long Kauditd, IReadOnlyDictionary<(string Process, int Tid), (string Name, long Ticks)> Threads,
        IReadOnlyDictionary<string, long> ProcessTicks);

    public CpuSample Sample()
    {
        var perThread = new Dictionary<(string, int), (string, long)>();
        var perProcess = new Dictionary<string, long>();
        long Sum(IReadOnlyList<int> pids, string role)
        {
            long total = 0;
            for (int i = 0; i < pids.Count; i++)
            {
                int pid = pids[i];
                if (ProcStat.Cpu(pid) is { } cpu)
                {
                    _last[pid] = cpu.WithChildren;
                }
                long ticks = _last.GetValueOrDefault(pid);
                total += ticks;
                if (threads && i == 0)
                {
                    perProcess[role] = ticks;
                    foreach (var (tid, t) in ProcStat.Threads(pid))
                    {
                        perThread[(role, tid)] = t;
                    }
                }
            }
            return total;
        }
        long kernel = s_kauditd.Value is int k ? ProcStat.Cpu(k)?.Own ?? 0 : 0;
        return new CpuSample(Sum(consumer, "agent"), Sum(collector, "collector"), kernel, perThread, perProcess);
    }

    /// <summary>True when the kernel's kauditd thread was found (its CPU is the kernel's cost of delivering records).</summary>
    public static bool HasKauditd => s_kauditd.Value is not null;

    private static int? FindKauditd() =>
        ProcStat.Processes().Where(p => p.Comm == "kauditd").Select(p => (int?)p.Pid).FirstOrDefault();

    /// <summary>Sum of the processes' current RSS (VmRSS), kB.</summary>
    public static long RssKb(IReadOnlyList<int> pids) => pids.Sum(p => ReadStatus(p) is { } text ? ProcStat.StatusKb(text, "VmRSS") ?? 0 : 0);

    private static string? ReadStatus(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/status");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Sum of the processes' peak RSS (VmHWM), kB.</summary>
    public long PeakRssKb(IReadOnlyList<int> pids) => pids.Sum(p => ProcStat.PeakRssKb(p) ?? 0);

    /// <summary>
    /// CPU between two samples by process and thread name (µs), largest first; what threads that
    /// exited in between used is the process's growth not seen in any live thread.
    /// </summary>
    public static IReadOnlyList<(string Thread, double Us)> ByThread(CpuSample start, CpuSample end)
    {
        if (end.Threads.Count == 0)
        {
            return [];
        }
        var byName = new Dictionary<string, long>();
        foreach (var (process, total) in end.ProcessTicks)
        {
            long seen = 0;
            foreach (var ((p, tid), (name, ticks)) in end.Threads)
            {
                if (p != process)
                {
                    continue;
                }
                long delta = ticks - (start.Threads.TryGetValue((p, tid), out var s) ? s.Ticks : 0);
                seen += delta;
                string label = $"{process}/{name}";
                byName[label] = byName.GetValueOrDefault(label) + delta;
            }
            long exited = total - start.ProcessTicks.GetValueOrDefault(process) - seen;
            if (exited > 0)
            {
                byName[$"{process}/(exited threads)"] = exited;
            }
        }
        return byName.Where(kv => kv.Value > 0).OrderByDescending(kv => kv.Value)
            .Select(kv => (kv.Key, ProcStat.TicksToMicroseconds(kv.Value))).ToList();
    }
}
