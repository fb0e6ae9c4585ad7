using System.Diagnostics;
using Sluice.Audit.Netlink;
using Sluice.Audit.Rules;
using Sluice.Benchmarks.Harness;

namespace Sluice.Benchmarks.Stages;

/// <summary>
/// Records of the comparison's load, taken from the real kernel for the per-stage breakdown: the
/// harness itself becomes the audit consumer, installs the trial rule (same load generator, same
/// rule text, a key of its own) and writes every record it receives to a capture file until
/// <see cref="MaxEvents"/> events of the load are in or the generator is done. Runs under the
/// harness's kernel lock, with the same kernel settings as the trials, and leaves no consumer
/// registered and no rule behind.
/// </summary>
public static class RecordCapture
{
    /// <summary>Enough events for a replay that takes a fraction of a second per stage; the capture stops here.</summary>
    public const int MaxEvents = 50_000;

    /// <summary>Longest load run for a capture: at the slowest (exec) load that is a few thousand events.</summary>
    public const double MaxSeconds = 5;

    public sealed record Result(string Path, long Records, long Events, int Rate, double Seconds);

    public static Result Capture(AuditControlClient control, CompareOptions options, int rate, string path, CancellationToken cancel)
    {
        string key = $"{HostGuard.KeyPrefix}{Environment.ProcessId}-capture";
        HostGuard.Apply(control, options.BacklogLimit, options.BacklogWaitTime, enabled: true);
        double seconds = Math.Min(options.Seconds, MaxSeconds);
        using var generator = LoadGenerator.Start(options.Load, seconds, rate);
        var rule = RuleParser.Parse(CompareCommand.RuleText(options.Load, generator.Pid, key)).Rules[0].Rule;
        using var socket = AuditEventSocket.Open(AuditReceiveMode.Unicast, 64);
        socket.SetReceiveBuffer(BareReader.BufferBytes);
        socket.ClaimConsumer();
        using var writer = new CapturedRecords.Writer(new BufferedStream(File.Create(path), 1 << 20), key);
        try
        {
            control.AddRule(rule);
            using var stop = new ManualResetEventSlim();
            Exception? failed = null;
            var reader = new Thread(() =>
            {
                try
                {
                    var w = writer;
                    while (!stop.IsSet && w.KeyedEvents < MaxEvents)
                    {
                        socket.WaitReadable(TimeSpan.FromMilliseconds(20));
                        socket.Drain(ref w, 4096);
                    }
                }
                catch (AuditException e)
                {
                    failed = e;
                }
            }) { IsBackground = true, Name = "record capture" };
            reader.Start();
            var load = generator.Go(cancel);
            // What the kernel still holds for us comes within a moment of the generator's end.
            var sw = Stopwatch.StartNew();
            long seen = -1;
            while (reader.IsAlive && sw.Elapsed < TimeSpan.FromSeconds(30) && writer.Records != seen)
            {
                seen = writer.Records;
                Thread.Sleep(500);
            }
            stop.Set();
            reader.Join();
            if (failed is not null)
            {
                throw new IOException($"capturing records failed: {failed.Message}", failed);
            }
            return new Result(path, writer.Records, writer.KeyedEvents, rate, load.Seconds);
        }
        finally
        {
            ConsumerWait.DeleteRule(control, rule);
            socket.ReleaseConsumer();
        }
    }
}
