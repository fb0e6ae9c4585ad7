using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Hosting;
using Sluice.Agent.Shipping;
using Sluice.Benchmarks.Harness;
using Sluice.Agent.Spool;
using Sluice.Protocol.V1;

namespace Sluice.Benchmarks.Delivery;

/// <summary>
/// The agent's own CPU per event for spool + ship, with the collector in another process so that
/// none of its work is counted:
/// <c>dotnet run -c Release --project tests/Sluice.Benchmarks -- agent-cpu MODE [BATCHES] [gzip|none] [EVENTS_PER_BATCH]</c>
/// where MODE is <c>full</c> (events added to the batcher one by one, as the pipeline hands them
/// over; each cut batch appended; the shipper reads, sends, acks), <c>spool</c> (the same batcher
/// and append, then read and acknowledge; no network) or <c>transport</c> (the same spooled batch sent again and again, one
/// call at a time). CPU is this process's user+system time (Process.TotalProcessorTime), measured
/// after a warm-up, and the process's peak RSS (VmHWM) at the end.
/// </summary>
internal static class AgentCpuMeasurement
{
    public static int Run(string[] args)
    {
        string mode = args.Length > 1 ? args[1] : "full";
        int batches = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 400;
        var compression = args.Length > 3 && args[3] == "none" ? ShippingCompression.None : ShippingCompression.Gzip;
        int eventsPerBatch = args.Length > 4 ? int.Parse(args[4], CultureInfo.InvariantCulture) : 1000;
        if (mode is not ("full" or "spool" or "transport"))
        {
            Console.Error.WriteLine("agent-cpu: MODE is full, spool or transport");
            return 2;
        }

        using var sink = Process.Start(new ProcessStartInfo("dotnet") { ArgumentList = { typeof(AgentCpuMeasurement).Assembly.Location, "sink" }, RedirectStandardOutput = true, UseShellExecute = false })!;
        string url = sink.StandardOutput.ReadLine() ?? throw new InvalidOperationException("the sink collector did not start");
        string dir = Directory.CreateTempSubdirectory("sluice-agent-cpu-").FullName;
        try
        {
            using var spool = DiskSpool.Open(new SpoolOptions { Directory = Path.Combine(dir, "spool"), MaxBytes = 4L * 1024 * 1024 * 1024, SegmentBytes = 64 * 1024 * 1024, Fsync = FsyncMode.Never });
            using var shipper = new Shipper(spool, new ShipperOptions
            {
                CollectorUrl = url,
                AllowInsecureTransport = true,
                Token = "bench",
                Compression = compression,
                QuarantineDirectory = Path.Combine(dir, "quarantine"),
            });
            var work = Enumerable.Range(0, 20).Select(i => GetppidWorkload.Batch(eventsPerBatch, (ulong)(i * eventsPerBatch))).ToArray();
            using var stop = new CancellationTokenSource();
            var run = shipper.RunAsync(stop.Token);
            ulong lastSequence = 0;
            using var batcher = new Batcher(new BatcherOptions { MaxEvents = eventsPerBatch, MaxBytes = 16 * 1024 * 1024, MaxDelay = TimeSpan.FromMinutes(10) },
                new AgentIdentity(work[0].AgentId, work[0].Hostname, work[0].BootId), cut => lastSequence = spool.Append(cut));
            Ship(spool, batcher, work, 40); // warm-up of every path: JIT, connection
            if (mode != "full")
            {
                stop.Cancel();
                run.GetAwaiter().GetResult();
            }

            using var entry = mode == "transport" ? SpoolOne(spool, work[0]) : null;
            void Round(int count)
            {
                switch (mode)
                {
                    case "full":
                        Ship(spool, batcher, work, count);
                        break;
                    case "spool":
                        for (int i = 0; i < count; i++)
                        {
                            foreach (var e in work[i % work.Length].Events)
                            {
                                batcher.Add(e);
                            }
                            spool.TryRead()!.Dispose();
                            spool.Acknowledge(lastSequence);
                        }
                        break;
                    default:
                        for (int i = 0; i < count; i++)
                        {
                            shipper.Transport.SendAsync(entry!, CancellationToken.None).GetAwaiter().GetResult();
                        }
                        break;
                }
            }
            var warmUp = JitWarmUp.UntilSteady(() => Round(20));
            var jitBefore = JitWarmUp.Snapshot();
            var process = Process.GetCurrentProcess();
            process.Refresh();
            var cpuBefore = process.TotalProcessorTime;
            var wall = Stopwatch.StartNew();
            Round(batches);
            wall.Stop();
            process.Refresh();
            var cpu = process.TotalProcessorTime - cpuBefore;
            stop.Cancel();
            run.GetAwaiter().GetResult();

            var jit = JitWarmUp.Snapshot() - jitBefore;
            long events = (long)batches * eventsPerBatch;
            string peak = Sluice.Testing.ProcStat.PeakRssKb(Environment.ProcessId) is long kb ? $"{kb} kB" : "?";
            // The spool mode sends nothing, so no compression applies to it.
            string sent = mode == "spool" ? "nothing sent" : $"compression {compression}";
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"agent-cpu {mode}: {events} events in {batches} batches of {work[0].CalculateSize()} bytes, {sent}: CPU {cpu.TotalMilliseconds:F0} ms = {cpu.TotalMilliseconds * 1000 / events:F2} us/event; wall {wall.ElapsedMilliseconds} ms; peak RSS {peak}; {warmUp}; while measuring: {jit}"));
            return 0;
        }
        finally
        {
            sink.Kill();
            Directory.Delete(dir, recursive: true);
        }
    }

    private static SpoolEntry SpoolOne(DiskSpool spool, EventBatch batch)
    {
        spool.Append(batch);
        spool.RewindReader();
        return spool.TryRead()!;
    }

    private static void Ship(DiskSpool spool, Batcher batcher, EventBatch[] work, int batches)
    {
        for (int i = 0; i < batches; i++)
        {
            foreach (var e in work[i % work.Length].Events)
            {
                batcher.Add(e);
            }
            // Keep a bounded backlog, as a live agent does.
            while (spool.Counters.DepthBatches > 16)
            {
                Thread.Sleep(1);
            }
        }
        while (spool.Counters.DepthBatches > 0)
        {
            Thread.Sleep(1);
        }
    }

    /// <summary>The sink collector as a child process: prints its URL, serves until killed.</summary>
    public static int Sink()
    {
        var app = SinkCollector.Start(0);
        Console.WriteLine(SinkCollector.Url(app));
        Console.Out.Flush();
        app.WaitForShutdownAsync().GetAwaiter().GetResult();
        return 0;
    }
}
