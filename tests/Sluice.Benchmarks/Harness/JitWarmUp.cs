using System.Diagnostics;
using System.Globalization;
using System.Runtime;

namespace Sluice.Benchmarks.Harness;

/// <summary>
/// Warm-up until the JIT is done: the runtime compiles each method first quickly, then again
/// optimized once it is hot (tiered compilation), on a background thread, for a few seconds after
/// start. A CPU measurement taken during that time counts the compiler, not the code measured.
/// </summary>
internal static class JitWarmUp
{
    /// <summary>Methods compiled and time spent compiling so far, in this process, on every thread.</summary>
    public readonly record struct JitCounts(long Methods, TimeSpan Time)
    {
        public static JitCounts operator -(JitCounts a, JitCounts b) => new(a.Methods - b.Methods, a.Time - b.Time);

        public override string ToString() =>
            string.Create(CultureInfo.InvariantCulture, $"{Methods} methods compiled in {Time.TotalMilliseconds:F0} ms");
    }

    public static JitCounts Snapshot() => new(JitInfo.GetCompiledMethodCount(currentThread: false), JitInfo.GetCompilationTime(currentThread: false));

    /// <summary>
    /// Runs <paramref name="round"/> again and again until three rounds in a row, each at least
    /// <paramref name="minimumRound"/> long (tiering waits 100 ms of quiet before it promotes methods),
    /// compile nothing, or <paramref name="limit"/> passes. Returns what it did, for the report.
    /// </summary>
    public static string UntilSteady(Action round, TimeSpan? minimumRound = null, TimeSpan? limit = null)
    {
        var minimum = minimumRound ?? TimeSpan.FromMilliseconds(500);
        var total = Stopwatch.StartNew();
        var start = Snapshot();
        int quiet = 0;
        int rounds = 0;
        while (quiet < 3 && total.Elapsed < (limit ?? TimeSpan.FromSeconds(60)))
        {
            var before = Snapshot();
            var elapsed = Stopwatch.StartNew();
            do
            {
                round();
                rounds++;
            }
            while (elapsed.Elapsed < minimum);
            quiet = Snapshot().Methods == before.Methods ? quiet + 1 : 0;
        }
        string state = quiet >= 3 ? "steady" : "NOT steady (limit reached)";
        return string.Create(CultureInfo.InvariantCulture,
            $"warm-up {rounds} rounds in {total.Elapsed.TotalSeconds:F1} s, {Snapshot() - start}, JIT {state}");
    }
}
