using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Sluice.Audit.Netlink;
using Sluice.Audit.Rules;
using Sluice.Benchmarks.Stages;
using Sluice.Testing;

namespace Sluice.Benchmarks.Harness;

/// <summary>
/// <c>compare</c>: the same audit rule and load, consumed in turn by a bare reader, auditd RAW,
/// auditd + laurel and Sluice end to end, at each rate, for several runs; medians and ratios as
/// Markdown. Run as root. Holds the kernel audit lock throughout and leaves the host as it found
/// it, on Ctrl-C and on failure too. See README.md, "End-to-end comparison with auditd and laurel".
/// </summary>
public static class CompareCommand
{
    private const int PollMs = 250;
    private const int WarmupMaxRate = 20000;

    /// <summary>How long a consumer must have been idle before its idle RSS is read.</summary>
    public const double IdleRssSeconds = 3;

    /// <summary>How long the consumer's CPU is watched after the warm-up, with no load, for <see cref="TrialResult.IdleCores"/> (ticks of 10 ms: 0.2 % of a core over 5 s).</summary>
    public const double IdleCpuSeconds = 5;

    /// <summary>Longest wait for a consumer to become idle after its start; its RSS is read then anyway, and flagged.</summary>
    public const double IdleRssTimeoutSeconds = 60;

    public static int Run(string[] args)
    {
        CompareOptions options;
        try
        {
            options = CompareOptions.Parse(args.Skip(1).ToList());
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"compare: {e.Message}\n{CompareOptions.Usage}");
            return 2;
        }
        if (!KernelAuditFixture.IsRoot)
        {
            Console.Error.WriteLine("compare: needs root (it drives kernel audit, auditd and the agent): run it with sudo");
            return 4;
        }
        var missing = Preflight(options);
        if (missing.Count > 0)
        {
            foreach (var m in missing)
            {
                Console.Error.WriteLine($"compare: {m}");
            }
            return 3;
        }

        using var cts = new CancellationTokenSource();
        if (options.UsesSluice && (options.AgentPath is null || options.CollectorPath is null))
        {
            try
            {
                AgentPublish.Publish(options.PublishDirectory, Console.Error, cts.Token);
            }
            catch (InvalidOperationException e)
            {
                Console.Error.WriteLine($"compare: {e.Message}");
                return 3;
            }
            options.UsePublished(AgentPublish.AgentIn(options.PublishDirectory), AgentPublish.CollectorIn(options.PublishDirectory));
            if (SluiceConsumer.Missing(options.AgentPath!, options.CollectorPath!) is { } m)
            {
                Console.Error.WriteLine($"compare: {m}");
                return 3;
            }
        }

        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            Interrupt(cts, "Ctrl-C");
        };
        Console.CancelKeyPress += onCancel;
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c =>
        {
            c.Cancel = true;
            Interrupt(cts, "SIGTERM");
        });
        using var hup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, c =>
        {
            c.Cancel = true;
            Interrupt(cts, "SIGHUP");
        });

        string root = Directory.CreateTempSubdirectory("sluice-compare-").FullName;
        // laurel drops to its own user and must reach its directory under here.
        File.SetUnixFileMode(root, (UnixFileMode)0b111_101_101);
        var results = new List<TrialResult>();
        StageBreakdown? stages = null;
        string header = Header(options, args);
        Console.Error.WriteLine($"trial files under {root}{(options.KeepFiles ? " (kept)" : "")}");
        int exit = 0;
        bool locked = false;
        try
        {
            RecordCapture.Result? capture = null;
            using (var guard = HostGuard.Acquire(TimeSpan.FromMinutes(60), Console.Error, cts.Token))
            {
                locked = true;
                using var control = AuditControlClient.Open();
                int leftovers = HostGuard.DeleteHarnessRules(control);
                if (leftovers > 0)
                {
                    Console.Error.WriteLine($"deleted {leftovers} rule(s) left by an earlier interrupted comparison");
                }
                int trialNo = 0;
                for (int run = 1; run <= options.Runs && !cts.IsCancellationRequested; run++)
                {
                    foreach (int rate in options.Rates)
                    {
                        if (cts.IsCancellationRequested)
                        {
                            break;
                        }
                        LoadResult baseline;
                        try
                        {
                            baseline = Baseline(control, options, rate, cts.Token);
                            Console.Error.WriteLine($"run {run}, {CompareOptions.RateName(rate)}/s, audit off: {baseline.Rate:N0} operations/s");
                        }
                        catch (OperationCanceledException)
                        {
                            break;
                        }
                        foreach (var kind in options.ConsumersFor(run))
                        {
                            if (cts.IsCancellationRequested)
                            {
                                break;
                            }
                            var result = Trial(control, options, kind, run, rate, baseline, Path.Combine(root, $"{++trialNo:D3}"), trialNo, cts.Token);
                            if (result is null)
                            {
                                break; // interrupted
                            }
                            results.Add(result);
                            Console.Error.WriteLine(Progress(result));
                            if (!options.KeepFiles)
                            {
                                TryDelete(Path.Combine(root, $"{trialNo:D3}"));
                            }
                        }
                    }
                }
                if (options.Stages && !cts.IsCancellationRequested && results.Any(r => r.Consumer == ComparisonReport.Sluice && r.Error is null))
                {
                    capture = CaptureForStages(control, options, Path.Combine(root, "capture.records"), cts.Token);
                }
            }
            if (capture is not null && !cts.IsCancellationRequested)
            {
                // The kernel is released: the replay needs none of it, and others may be waiting.
                stages = MeasureStages(options, capture, cts.Token);
            }
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException or AuditException or IOException)
        {
            Console.Error.WriteLine($"compare: {e.Message}");
            exit = 1;
        }
        catch (OperationCanceledException)
        {
            // Interrupted while waiting for the lock: nothing was changed.
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
            if (!options.KeepFiles)
            {
                TryDelete(root);
            }
        }
        Console.Error.WriteLine(locked
            ? "host restored: rules deleted, audit status as found" + (exit == 0 ? "" : " (after an error)")
            : "the kernel was not touched (the lock was never taken)");
        if (cts.IsCancellationRequested)
        {
            header += "\n\n**Interrupted: partial results.**";
            exit = 130;
        }
        if (results.Count > 0)
        {
            string markdown = ComparisonReport.Markdown(results, header, options.Load, stages is null ? null : [stages]);
            Console.WriteLine(markdown);
            if (options.OutFile is { } path)
            {
                File.WriteAllText(path, markdown);
                Console.Error.WriteLine($"written to {path}");
            }
        }
        return exit;
    }

    /// <summary>Records of the load for the breakdown, at the first rate; null (said on the console) when the capture failed.</summary>
    private static RecordCapture.Result? CaptureForStages(AuditControlClient control, CompareOptions options, string path, CancellationToken cancel)
    {
        int rate = options.Rates[0];
        try
        {
            var capture = RecordCapture.Capture(control, options, rate, path, cancel);
            Console.Error.WriteLine($"captured {capture.Events:N0} events ({capture.Records:N0} records) of the load at {CompareOptions.RateName(rate)}/s for the per-stage breakdown");
            return capture.Events > 0 ? capture : null;
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException or AuditException or IOException)
        {
            Console.Error.WriteLine($"capturing records for the per-stage breakdown failed: {e.Message}");
            return null;
        }
        finally
        {
            HostGuard.DeleteHarnessRules(control);
        }
    }

    /// <summary>Runs <c>stages</c> over the capture in a process of its own (so its CPU is its own) and collects its lines.</summary>
    private static StageBreakdown? MeasureStages(CompareOptions options, RecordCapture.Result capture, CancellationToken cancel)
    {
        Console.Error.WriteLine($"host restored and the kernel lock released; measuring the stages in-process ({options.StageRepetitions} repetitions, after a JIT warm-up)...");
        var samples = new List<StageSample>();
        string compression = "?";
        string form = "?";
        string? warmUp = null;
        string? failure = null;
        var notes = new List<string>();
        var jit = new List<(string Level, string Repetition, long Methods)>();
        using var child = ChildProcess.StartSelf("stages", ["stages", capture.Path, "--repetitions", options.StageRepetitions.ToString(CultureInfo.InvariantCulture)], line =>
        {
            try
            {
                if (StageSample.Parse(line) is { } sample)
                {
                    lock (samples)
                    {
                        samples.Add(sample);
                    }
                    Console.Error.WriteLine($"  stage level {sample.Level}, repetition {sample.Repetition}: {sample.CpuUs / 1000:F0} ms CPU, {sample.AllocatedBytes / 1048576.0:F1} MiB allocated");
                }
                else if (line.StartsWith("stage-info ", StringComparison.Ordinal))
                {
                    var parts = line.Split(' ');
                    for (int i = 1; i + 1 < parts.Length; i += 2)
                    {
                        compression = parts[i] == "compression" ? parts[i + 1] : compression;
                        form = parts[i] == "form" ? parts[i + 1] : form;
                    }
                }
                else if (line.StartsWith("stage-warmup ", StringComparison.Ordinal))
                {
                    warmUp = line["stage-warmup ".Length..];
                }
                else if (line.StartsWith("stage-jit ", StringComparison.Ordinal))
                {
                    var parts = line.Split(' ');
                    lock (jit)
                    {
                        jit.Add((parts[1], parts[2], long.Parse(parts[3], CultureInfo.InvariantCulture)));
                    }
                }
                else if (line.StartsWith("stage-note ", StringComparison.Ordinal))
                {
                    lock (notes)
                    {
                        notes.Add(line["stage-note ".Length..]);
                    }
                    Console.Error.WriteLine("  " + line);
                }
            }
            catch (FormatException e)
            {
                failure = e.Message;
            }
        });
        var sw = Stopwatch.StartNew();
        while (!child.WaitForExit(TimeSpan.FromMilliseconds(PollMs)))
        {
            if (cancel.IsCancellationRequested || sw.Elapsed > TimeSpan.FromMinutes(20))
            {
                child.Stop(TimeSpan.FromSeconds(10));
                failure ??= cancel.IsCancellationRequested ? "interrupted" : "did not finish within 20 min";
                break;
            }
        }
        if (failure is null && child.HasExited && child.ExitCode != 0)
        {
            failure = $"exited with code {child.ExitCode}: {child.Output.Split('\n').LastOrDefault(l => l.Length > 0)}";
            Console.Error.WriteLine($"the stage measurement failed; its last output:\n{child.Output}");
        }
        if (samples.Count == 0)
        {
            Console.Error.WriteLine($"no per-stage breakdown: the measurement {failure ?? "printed nothing"}");
            return null;
        }
        if (jit.Count > 0)
        {
            var most = jit.MaxBy(j => j.Methods);
            notes.Add(string.Create(CultureInfo.InvariantCulture,
                $"the JIT compiled {jit.Sum(j => j.Methods)} methods in all while levels were measured, at most {most.Methods} in one (level {most.Level}, repetition {most.Repetition})"));
        }
        return new StageBreakdown(options.Load, capture.Rate, capture.Records, capture.Events, compression, samples)
        {
            WarmUp = warmUp,
            Form = form,
            Note = string.Join(" ", new[] { failure is null ? null : $"**The stage measurement {failure}: partial.**" }
                .Concat(notes.Select(n => $"Check: {n}.")).Where(n => n is not null)) is { Length: > 0 } note ? note : null,
        };
    }

    private static void Interrupt(CancellationTokenSource cts, string what)
    {
        if (!cts.IsCancellationRequested)
        {
            Console.Error.WriteLine($"{what}: stopping the current trial and restoring the host...");
            cts.Cancel();
        }
    }

    /// <summary>What must be installed; each line says what is missing and how to get it.</summary>
    private static List<string> Preflight(CompareOptions options)
    {
        var missing = new List<string>();
        if (NativeToolsExists("gcc") is false)
        {
            missing.Add("gcc is needed to build the load generator: apt-get install gcc");
        }
        if (NativeToolsExists("setpriv") is false)
        {
            missing.Add("setpriv (util-linux) is needed to tie child processes to the harness: apt-get install util-linux");
        }
        if (options.Consumers.Contains(ConsumerKind.Auditd) && AuditdConsumer.Missing(laurel: false) is { } a)
        {
            missing.Add(a);
        }
        if (options.Consumers.Contains(ConsumerKind.Laurel) && AuditdConsumer.Missing(laurel: true) is { } l)
        {
            missing.Add(l);
        }
        if (options.UsesSluice && options.AgentPath is not null && options.CollectorPath is not null
            && SluiceConsumer.Missing(options.AgentPath, options.CollectorPath) is { } s)
        {
            missing.Add(s);
        }
        if (missing.Count == 0)
        {
            try
            {
                NativeTools.Get("audit_load");
            }
            catch (InvalidOperationException e)
            {
                missing.Add(e.Message);
            }
        }
        return missing;
    }

    private static bool NativeToolsExists(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':').Any(d => File.Exists(Path.Combine(d, program)));

    /// <summary>The generator alone with audit off (enabled=0, no rule): the rate the host reaches untouched.</summary>
    private static LoadResult Baseline(AuditControlClient control, CompareOptions options, int rate, CancellationToken cancel)
    {
        HostGuard.Apply(control, options.BacklogLimit, options.BacklogWaitTime, enabled: false);
        using var generator = LoadGenerator.Start(options.Load, options.Seconds, rate);
        return generator.Go(cancel);
    }

    /// <summary>
    /// The same load, under a rule of its own with another key, before the measured window: what
    /// runs only once in a consumer's life (the agent's JIT compilation, first allocations) is not
    /// charged to the trial. Every consumer gets it. Returns once the consumer is idle again.
    /// </summary>
    private static void Warmup(AuditControlClient control, CompareOptions options, CpuMeter meter, int rate, string key, CancellationToken cancel)
    {
        // JIT promotion depends on calls, not on rate: 20,000/s at most keeps the warm-up short for the slow consumers.
        using var generator = LoadGenerator.Start(options.Load, options.WarmupSeconds, rate == 0 ? WarmupMaxRate : Math.Min(rate, WarmupMaxRate));
        var rule = RuleParser.Parse(RuleText(options.Load, generator.Pid, key)).Rules[0].Rule;
        control.AddRule(rule);
        try
        {
            generator.Go(cancel);
        }
        finally
        {
            ConsumerWait.DeleteRule(control, rule);
        }
        var idle = new IdleWatch(meter);
        var sw = Stopwatch.StartNew();
        while (!idle.IsIdle(TimeSpan.FromSeconds(1)))
        {
            if (sw.Elapsed.TotalSeconds > options.DrainTimeoutSeconds)
            {
                throw new TimeoutException($"the consumer was still busy {options.DrainTimeoutSeconds:0} s after the warm-up");
            }
            if (cancel.WaitHandle.WaitOne(PollMs))
            {
                cancel.ThrowIfCancellationRequested();
            }
            idle.Sample();
        }
    }

    /// <summary>
    /// Waits until the consumer (collector included) has been idle for <paramref name="window"/>;
    /// false when it was still busy after <paramref name="timeout"/>.
    /// </summary>
    private static bool WaitIdle(CpuMeter meter, TimeSpan window, TimeSpan timeout, CancellationToken cancel)
    {
        var idle = new IdleWatch(meter);
        var sw = Stopwatch.StartNew();
        idle.Sample();
        while (!idle.IsIdle(window))
        {
            if (sw.Elapsed > timeout)
            {
                return false;
            }
            if (cancel.WaitHandle.WaitOne(PollMs))
            {
                cancel.ThrowIfCancellationRequested();
            }
            idle.Sample();
        }
        return true;
    }

    /// <summary>
    /// Whether a consumer (collector included) is idle: it used less than <see cref="IdleCores"/> of
    /// one core over a window. A consumer that is still working through a backlog is not idle even
    /// when none of the trial's events has come out yet.
    /// </summary>
    private sealed class IdleWatch(CpuMeter meter)
    {
        public const double IdleCores = 0.05;

        private readonly List<(long Ms, long Ticks)> _samples = [];
        private readonly Stopwatch _clock = Stopwatch.StartNew();

        public CpuMeter.CpuSample Sample()
        {
            var s = meter.Sample();
            _samples.Add((_clock.ElapsedMilliseconds, s.Consumer + s.Collector));
            return s;
        }

        public bool IsIdle(TimeSpan window)
        {
            if (_samples.Count == 0)
            {
                return false;
            }
            var last = _samples[^1];
            // The latest sample at least a whole window before the last one; none yet: not watched long enough.
            int i = _samples.FindLastIndex(x => x.Ms <= last.Ms - (long)window.TotalMilliseconds);
            if (i < 0)
            {
                return false;
            }
            var first = _samples[i];
            double cores = ProcStat.TicksToMicroseconds(last.Ticks - first.Ticks) / 1000.0 / (last.Ms - first.Ms);
            return cores < IdleCores;
        }
    }

    public static string RuleText(LoadKind load, int generatorPid, string key) => load == LoadKind.Exec
        ? $"-a always,exit -F arch=b64 -S execve -F ppid={generatorPid} -F key={key}"
        : $"-a always,exit -F arch=b64 -S getppid -F pid={generatorPid} -F key={key}";

    private static IConsumer Create(ConsumerKind kind, CompareOptions options) => kind switch
    {
        ConsumerKind.Bare => new BareReaderConsumer(),
        ConsumerKind.Auditd => new AuditdConsumer(laurel: false),
        ConsumerKind.Laurel => new AuditdConsumer(laurel: true),
        ConsumerKind.SluiceNoContext => new SluiceConsumer(options.AgentPath!, options.CollectorPath!, enrichmentOff: true),
        _ => new SluiceConsumer(options.AgentPath!, options.CollectorPath!),
    };

    /// <summary>One consumer at one rate. Null when interrupted; a result with <see cref="TrialResult.Error"/> when it failed.</summary>
    private static TrialResult? Trial(AuditControlClient control, CompareOptions options, ConsumerKind kind, int run, int rate,
        LoadResult baseline, string dir, int trialNo, CancellationToken cancel)
    {
        Directory.CreateDirectory(dir);
        File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
        string key = $"{HostGuard.KeyPrefix}{Environment.ProcessId}-{trialNo}";
        using var consumer = Create(kind, options);
        var result = new TrialResult { Run = run, Rate = rate, Consumer = consumer.Name, BaselineRate = baseline.Rate };
        try
        {
            HostGuard.Apply(control, options.BacklogLimit, options.BacklogWaitTime, enabled: true);
            using var generator = LoadGenerator.Start(options.Load, options.Seconds, rate);
            string ruleText = RuleText(options.Load, generator.Pid, key);
            var parsed = RuleParser.Parse(ruleText);
            if (parsed.Errors.Count > 0)
            {
                throw new InvalidOperationException($"the benchmark rule does not compile: {string.Join("; ", parsed.Errors)}");
            }
            var trial = new TrialContext(key, options.Load == LoadKind.Exec ? "execve" : "getppid", ruleText, parsed.Rules[0].Rule, dir, options.BacklogLimit, options.BacklogWaitTime, control);
            consumer.Start(trial, cancel);
            var meter = new CpuMeter(consumer.ConsumerPids, consumer.CollectorPids, threads: kind is ConsumerKind.Sluice or ConsumerKind.SluiceNoContext);
            bool idleReached = WaitIdle(meter, TimeSpan.FromSeconds(IdleRssSeconds), TimeSpan.FromSeconds(IdleRssTimeoutSeconds), cancel);
            long idleRss = CpuMeter.RssKb(consumer.ConsumerPids);
            long? collectorIdleRss = consumer.CollectorPids.Count > 0 ? CpuMeter.RssKb(consumer.CollectorPids) : null;
            if (options.WarmupSeconds > 0)
            {
                Warmup(control, options, meter, rate, key + "-warmup", cancel);
            }
            // Let start-up work (JIT, plugin start, the warm-up's delivery) finish before the window opens.
            if (cancel.WaitHandle.WaitOne(1000))
            {
                cancel.ThrowIfCancellationRequested();
            }
            // Idle CPU once warm: start-up and the first load are behind it, so what is left is what it costs per second with nothing to do.
            var idleFrom = meter.Sample();
            var idleClock = Stopwatch.StartNew();
            if (cancel.WaitHandle.WaitOne(TimeSpan.FromSeconds(IdleCpuSeconds)))
            {
                cancel.ThrowIfCancellationRequested();
            }
            var idleTo = meter.Sample();
            double idleCores = ProcStat.TicksToMicroseconds(idleTo.Consumer - idleFrom.Consumer) / 1e6 / idleClock.Elapsed.TotalSeconds;

            var before = control.GetStatus();
            var start = meter.Sample();
            var load = generator.Go(cancel);

            var sinceChange = Stopwatch.StartNew();
            var total = Stopwatch.StartNew();
            long delivered = 0;
            var idle = new IdleWatch(meter);
            var atChange = idle.Sample();
            bool timedOut = false;
            while (delivered < load.Operations)
            {
                if (cancel.WaitHandle.WaitOne(PollMs))
                {
                    cancel.ThrowIfCancellationRequested();
                }
                long now = consumer.Delivered();
                var sample = idle.Sample();
                if (now > delivered)
                {
                    delivered = now;
                    atChange = sample;
                    sinceChange.Restart();
                }
                else if (sinceChange.Elapsed.TotalSeconds > options.SettleSeconds && idle.IsIdle(TimeSpan.FromSeconds(options.SettleSeconds)))
                {
                    break; // nothing new for a while, and nothing being worked on: what is missing is lost
                }
                if (total.Elapsed.TotalSeconds > options.DrainTimeoutSeconds)
                {
                    timedOut = true;
                    break;
                }
            }
            if (delivered == 0)
            {
                atChange = meter.Sample();
            }
            var after = control.GetStatus();
            string? details = consumer.Details();
            if (consumer is BareReaderConsumer)
            {
                details = null;
            }
            // The process table as the agent counts it, once the trial's events are through (after the window, before the stop).
            var enrichment = consumer is SluiceConsumer sluice ? sluice.Enrichment() : null;
            return result with
            {
                Offered = load.Operations,
                GeneratorSeconds = load.Seconds,
                AchievedRate = load.Rate,
                Delivered = delivered,
                KernelLost = (uint)(after.Lost - before.Lost),
                WaitActual = after.BacklogWaitTimeActual is uint w1 && before.BacklogWaitTimeActual is uint w0 ? (uint)(w1 - w0) : 0,
                ConsumerCpuUs = ProcStat.TicksToMicroseconds(atChange.Consumer - start.Consumer),
                ConsumerPeakRssKb = meter.PeakRssKb(consumer.ConsumerPids),
                ConsumerIdleRssKb = idleRss,
                IdleReached = idleReached,
                IdleCores = idleCores,
                CollectorIdleRssKb = collectorIdleRss,
                CollectorCpuUs = consumer.CollectorPids.Count > 0 ? ProcStat.TicksToMicroseconds(atChange.Collector - start.Collector) : null,
                CollectorPeakRssKb = consumer.CollectorPids.Count > 0 ? meter.PeakRssKb(consumer.CollectorPids) : null,
                KauditdCpuUs = CpuMeter.HasKauditd ? ProcStat.TicksToMicroseconds(atChange.Kauditd - start.Kauditd) : null,
                BacklogLimitAtEnd = after.BacklogLimit,
                TimedOut = timedOut,
                Details = details,
                SluiceVariant = consumer is SluiceConsumer,
                Enrichment = enrichment,
                ThreadCpu = CpuMeter.ByThread(start, atChange),
            };
        }
        catch (OperationCanceledException)
        {
            return null;
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException or AuditException or IOException or FormatException)
        {
            Console.Error.WriteLine($"run {run}, {CompareOptions.RateName(rate)}/s, {consumer.Name}: FAILED: {e.Message}");
            return result with { Error = FirstLine(e.Message) };
        }
        finally
        {
            try
            {
                consumer.Stop();
            }
            catch (Exception e) when (e is InvalidOperationException or TimeoutException or AuditException or IOException)
            {
                Console.Error.WriteLine($"{consumer.Name}: stopping failed: {e.Message}");
            }
            HostGuard.DeleteHarnessRules(control);
        }
    }

    private static string Progress(TrialResult t) => t.Error is not null
        ? $"run {t.Run}, {CompareOptions.RateName(t.Rate)}/s, {t.Consumer}: failed"
        : $"run {t.Run}, {CompareOptions.RateName(t.Rate)}/s, {t.Consumer}: offered {t.Offered:N0} at {t.AchievedRate:N0}/s ({t.HostImpact:P1} of audit off), " +
            $"delivered {t.Delivered:N0}, kernel lost {t.KernelLost:N0}, uncounted {t.UncountedLoss:N0}, CPU {t.CpuPerEventUs:0.00} µs/event, " +
            $"idle CPU {t.IdleCores * 100:0.0} % of a core, idle RSS {t.ConsumerIdleRssKb / 1024.0:0} MB{(t.IdleReached ? "" : " (not idle)")}, peak RSS {t.ConsumerPeakRssKb / 1024.0:0} MB, kauditd {t.KauditdCpuPerEventUs:0.00} µs/event" +
            (t.CollectorCpuPerEventUs is double c ? $", collector {c:0.00} µs/event, {t.CollectorPeakRssKb / 1024.0:0} MB" : "") +
            (t.WaitActual != 0 ? $", backlog_wait_time_actual +{t.WaitActual}" : "") +
            (t.SluiceVariant ? $", {ComparisonReport.TableText(t)}" : "") +
            (t.Details is { } d ? $"\n    {d}" : "");

    private static string Header(CompareOptions options, string[] args)
    {
        var sb = new StringBuilder();
        string Tool(string file, string a)
        {
            try
            {
                var (code, output) = NativeTools.Run(file, a);
                return code == 0 ? output.Trim() : "?";
            }
            catch (System.ComponentModel.Win32Exception)
            {
                return "?";
            }
        }
        string cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?";
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"Measured {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC on {Environment.ProcessorCount} CPUs ({cpu}), kernel {Tool("uname", "-r")}, "
            + $"load average at start {File.ReadAllText("/proc/loadavg").Split(' ')[0]}; auditd {Tool("dpkg-query", "-W -f=${Version} auditd")}, laurel {Tool("dpkg-query", "-W -f=${Version} laurel")}."));
        sb.AppendLine();
        sb.AppendLine($"Command: `compare {string.Join(' ', args.Skip(1))}`. Load: {(options.Load == LoadKind.Exec ? "posix_spawn of /bin/true" : "getppid loop")}, "
            + $"{options.Seconds:0.#} s per trial after a {options.WarmupSeconds:0.#} s warm-up under another key, {options.Runs} run(s). Rule: `{RuleText(options.Load, 0, "KEY").Replace("=0 ", "=GENERATOR ", StringComparison.Ordinal)}`. "
            + $"Every consumer ran with backlog_limit {options.BacklogLimit} and backlog_wait_time {options.BacklogWaitTime} (Sluice through its Kernel config; its loss monitor may raise backlog_limit, see the last column).");
        if (options.UsesSluice && options.AgentPath is { } agent)
        {
            sb.AppendLine();
            sb.AppendLine($"Sluice: agent `{agent}` ({AgentPublish.Kind(agent)}{(agent == AgentPublish.AgentIn(options.PublishDirectory) ? ", published by deploy/publish.sh for this comparison" : "")}), collector `{options.CollectorPath}`.");
        }
        if (options.Consumers.Contains(ConsumerKind.SluiceNoContext))
        {
            sb.AppendLine();
            sb.AppendLine($"{ComparisonReport.SluiceNoContext}: the same agent with `\"Enrichment\": {{\"Enabled\": false}}` in its agent.json"
                + (options.Consumers.Contains(ConsumerKind.Sluice)
                    ? $"; {ComparisonReport.Sluice}: no Enrichment section (the agent's default). Both run at every rate of every run, on the same load, and swap places on every even run."
                    : "."));
        }
        return sb.ToString().TrimEnd();
    }

    private static string FirstLine(string text) => text.Split('\n')[0];

    private static void TryDelete(string dir)
    {
        try
        {
            Directory.Delete(dir, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"could not delete {dir}: {e.Message}");
        }
    }
}
