using System.Diagnostics;
using Sluice.Audit.Accounts;
using Sluice.Audit.Records;

namespace Sluice.Benchmarks.Records;

/// <summary>
/// Names on against names off for the benchmark execve event, as CPU time rather than wall time, in
/// alternating blocks so that both see the same machine load:
/// <c>interpret-names [blocks] [events-per-block]</c>. <c>interpret-names-loop on|off N</c> runs one side
/// alone, for an instruction count under <c>valgrind --tool=callgrind</c>.
/// </summary>
public static class InterpretNamesMeasurement
{
    private const uint Serial = 1173841;

    private static AuditEvent KeptEvent()
    {
        AuditEvent? kept = null;
        var keep = new AuditReassembler(ev => kept = ev, new Corpus.FrozenTime());
        foreach (var (type, text) in Corpus.Event(Serial))
        {
            keep.Add(type, text);
        }
        keep.Flush();
        return kept ?? throw new InvalidOperationException($"serial {Serial} is not in the corpus");
    }

    private static AccountNameCache Names() => new(Path.Combine(AppContext.BaseDirectory, "accounts"));

    public static int Run(string[] args)
    {
        int blocks = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 21;
        int perBlock = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 200_000;
        AuditEvent ev = KeptEvent();
        AccountNameCache names = Names();
        if (AuditEventInterpreter.Interpret(ev, names).Names is not { Uid: "root" })
        {
            throw new InvalidOperationException("the event's ids were not named");
        }
        // warm up both paths past tiered compilation
        Loop(ev, null, 500_000);
        Loop(ev, names, 500_000);
        var off = new List<double>();
        var on = new List<double>();
        for (int b = 0; b < blocks; b++)
        {
            off.Add(Loop(ev, null, perBlock));
            on.Add(Loop(ev, names, perBlock));
        }
        off.Sort();
        on.Sort();
        double offMedian = off[off.Count / 2], onMedian = on[on.Count / 2];
        Console.WriteLine($"interpret, names off: median {offMedian * 1000:F0} ns CPU per event (min {off[0] * 1000:F0})");
        Console.WriteLine($"interpret, names on:  median {onMedian * 1000:F0} ns CPU per event (min {on[0] * 1000:F0})");
        Console.WriteLine($"names on / names off: {onMedian / offMedian:F2} (medians), +{(onMedian - offMedian) * 1000:F0} ns; load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
        return 0;
    }

    public static int Loop(string[] args)
    {
        bool withNames = args[1] == "on";
        int n = int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture);
        AuditEvent ev = KeptEvent();
        double us = Loop(ev, withNames ? Names() : null, n);
        Console.WriteLine($"{n} events, names {args[1]}: {us * 1000:F0} ns CPU per event");
        return 0;
    }

    // CPU µs per event
    private static double Loop(AuditEvent ev, AccountNameCache? names, int n)
    {
        var process = Process.GetCurrentProcess();
        TimeSpan start = process.TotalProcessorTime;
        long sink = 0;
        for (int i = 0; i < n; i++)
        {
            sink += AuditEventInterpreter.Interpret(ev, names).FieldErrors;
        }
        process.Refresh();
        GC.KeepAlive(sink);
        return (process.TotalProcessorTime - start).TotalMicroseconds / n;
    }
}
