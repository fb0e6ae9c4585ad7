using System.Globalization;
using System.Runtime.InteropServices;
using Sluice.Benchmarks.Harness;

namespace Sluice.Benchmarks.Stages;

/// <summary>
/// <c>stages CAPTURE [--repetitions 3]</c>: replays a record capture (<see cref="RecordCapture"/>)
/// through each <see cref="StageLevel"/> in turn, in this process, and prints one line per level
/// and repetition: <c>stage-level NAME REPETITION EVENTS CPU_US ALLOCATED_BYTES</c>, and a
/// <c>stage-note</c> line when fewer events reached a level's end than were reassembled, and a
/// <c>stage-jit NAME REPETITION METHODS</c> line when the JIT compiled while a level was measured. CPU is this
/// process's (every thread: the shipper sends from the thread pool), from the first record handed
/// over to the level's end (for <c>send</c> and <c>compress</c>: the last batch acknowledged by the
/// collector), by <c>clock_gettime(CLOCK_PROCESS_CPUTIME_ID)</c>; allocated bytes are
/// <see cref="GC.GetTotalAllocatedBytes"/> over the same span. The collector is the benchmarks'
/// sink collector (<c>sink</c> mode, which parses and acknowledges), in a process of its own, so
/// none of its work is counted. Each level starts fresh (new pipeline, spool, connection) after a
/// full GC, once every level has run until the JIT compiles nothing while a level is measured.
/// </summary>
internal static partial class StageMeasurement
{
    /// <summary>Records handed over between two <see cref="StageLevel.Tick"/>s, as a drain of a busy agent hands over.</summary>
    public const int RecordsPerDrain = 4096;

    public static int Run(string[] args)
    {
        if (args.Length < 2)
        {
            Console.Error.WriteLine("usage: stages CAPTURE [--repetitions 3]");
            return 2;
        }
        int repetitions = args.Length > 3 && args[2] == "--repetitions" ? int.Parse(args[3], CultureInfo.InvariantCulture) : 3;
        var records = CapturedRecords.Read(args[1]);
        string root = Directory.CreateTempSubdirectory("sluice-stages-").FullName;
        string? url = null;
        using var urlKnown = new ManualResetEventSlim();
        using var sink = ChildProcess.StartSelf("sink collector", ["sink"], line =>
        {
            if (url is null && line.StartsWith("http", StringComparison.Ordinal))
            {
                url = line.Trim();
                urlKnown.Set();
            }
        });
        try
        {
            if (!urlKnown.Wait(TimeSpan.FromSeconds(60)))
            {
                sink.ThrowIfExited("starting");
                throw new TimeoutException("the sink collector did not say its address within 60 s");
            }
            int port = new Uri(url!).Port;
            int instance = 0;
            string NewConfig()
            {
                string dir = Path.Combine(root, (++instance).ToString("D4", CultureInfo.InvariantCulture));
                Directory.CreateDirectory(dir);
                File.WriteAllText(Path.Combine(dir, "audit.rules"), "");
                string config = Path.Combine(dir, "agent.json");
                File.WriteAllText(config, SluiceConsumer.AgentConfig(dir, port, 65752, 0));
                return config;
            }
            var levels = StageLevel.Names.ToList();
            string first = NewConfig();
            string compression = StageLevel.ConfiguredCompression(first);
            string form = StageLevel.ConfiguredForm(first);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"stage-info records {records.Count} bytes {records.Bytes} compression {compression} form {form}"));

            Console.WriteLine($"stage-warmup {WarmUp(levels, NewConfig, records)}");

            for (int rep = 1; rep <= repetitions; rep++)
            {
                long reassembled = -1;
                foreach (string name in levels)
                {
                    var (events, delivered, cpuUs, allocated, jit) = RunLevel(name, NewConfig(), records, records.Count);
                    reassembled = name == "reassemble" ? events : reassembled;
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"stage-level {name} {rep} {events} {cpuUs:F1} {allocated}"));
                    if (delivered != reassembled)
                    {
                        // A level that lost or filtered events would look cheaper than it is.
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"stage-note level {name}, repetition {rep}: {delivered} of {reassembled} events reached its end"));
                    }
                    if (jit > 0)
                    {
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"stage-jit {name} {rep} {jit}"));
                    }
                }
            }
            return 0;
        }
        finally
        {
            sink.Stop(TimeSpan.FromSeconds(10));
            Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>
    /// Every level over the first records, round after round, until two rounds in a row compile
    /// nothing while measured (building a level compiles afresh each time, e.g. the service
    /// provider's resolvers, but that is outside what is measured), or <paramref name="limit"/> passes.
    /// </summary>
    private static string WarmUp(IReadOnlyList<string> levels, Func<string> newConfig, CapturedRecords records, TimeSpan? limit = null)
    {
        int count = Math.Min(records.Count, 30_000);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var start = JitWarmUp.Snapshot();
        int quiet = 0;
        int rounds = 0;
        while (quiet < 2 && sw.Elapsed < (limit ?? TimeSpan.FromSeconds(90)))
        {
            long compiled = levels.Sum(name => RunLevel(name, newConfig(), records, count).Jit);
            quiet = compiled == 0 ? quiet + 1 : 0;
            rounds++;
        }
        return string.Create(CultureInfo.InvariantCulture,
            $"warm-up {rounds} rounds of every level over {count} records in {sw.Elapsed.TotalSeconds:F1} s, {JitWarmUp.Snapshot() - start}; {(quiet >= 2 ? "nothing compiled while measured in the last 2 rounds" : "still compiling while measured when the limit was reached")}");
    }

    /// <summary>One fresh level over the first <paramref name="count"/> records: events reassembled (-1: not known), events at its end, CPU µs, bytes allocated, methods the JIT compiled meanwhile.</summary>
    private static (long Events, long Delivered, double CpuUs, long Allocated, long Jit) RunLevel(string name, string config, CapturedRecords records, int count)
    {
        using var level = StageLevel.Create(name, config, Path.GetDirectoryName(config)!);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        long jit = JitWarmUp.Snapshot().Methods;
        long allocated = GC.GetTotalAllocatedBytes(precise: true);
        double cpu = ProcessCpuUs();
        for (int from = 0; from < count; from += RecordsPerDrain)
        {
            var sink = level;
            records.Replay(ref sink, from, Math.Min(count, from + RecordsPerDrain));
            level.Tick();
        }
        level.Finish();
        double cpuUs = ProcessCpuUs() - cpu;
        allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        return (level.Events, level.Delivered, cpuUs, allocated, JitWarmUp.Snapshot().Methods - jit);
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    private const int ClockProcessCputimeId = 2;

    [LibraryImport("libc", EntryPoint = "clock_gettime", SetLastError = true)]
    private static partial int ClockGetTime(int clock, out Timespec time);

    /// <summary>CPU this process has used (every thread), µs.</summary>
    public static double ProcessCpuUs()
    {
        if (ClockGetTime(ClockProcessCputimeId, out var t) != 0)
        {
            throw new InvalidOperationException($"clock_gettime(CLOCK_PROCESS_CPUTIME_ID) failed: errno {Marshal.GetLastPInvokeError()}");
        }
        return t.Seconds * 1e6 + t.Nanoseconds / 1e3;
    }
}
