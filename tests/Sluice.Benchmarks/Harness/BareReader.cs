using System.Text;
using Sluice.Audit.Netlink;
using Sluice.Audit.Tables;

namespace Sluice.Benchmarks.Harness;

/// <summary>
/// The ceiling: the least a consumer can do. Claims the consumer PID, and every 100 ms reads
/// the socket until empty with recvmmsg (64 datagrams per call) into a 256 MiB buffer; counts
/// the SYSCALL records carrying the benchmark key (one per event) and discards everything.
/// Run by the harness as its own process (<c>bare-reader KEY</c>) so that its CPU is its own;
/// prints <c>events N records M</c> every 250 ms and once more when its standard input closes.
/// </summary>
public static class BareReader
{
    public const int IntervalMs = 100;
    public const int BufferBytes = 256 << 20;

    private struct Counter : IAuditRecordSink
    {
        public byte[] Needle;
        public long Events;
        public long Records;

        public void OnRecord(AuditMessageType type, ReadOnlySpan<byte> text)
        {
            Records++;
            if (type == AuditMessageType.Syscall && text.IndexOf(Needle) >= 0)
            {
                Events++;
            }
        }
    }

    public static int Run(string[] args)
    {
        if (args.Length < 2)
        {
            Console.Error.WriteLine("usage: bare-reader KEY");
            return 2;
        }
        var sink = new Counter { Needle = Encoding.ASCII.GetBytes($" key=\"{args[1]}\"") };
        using var socket = AuditEventSocket.Open(AuditReceiveMode.Unicast, 64);
        socket.SetReceiveBuffer(BufferBytes);
        socket.ClaimConsumer();
        var stop = new ManualResetEventSlim();
        var stdin = new Thread(() =>
        {
            Console.In.ReadToEnd();
            stop.Set();
        }) { IsBackground = true, Name = "stdin" };
        stdin.Start();
        Console.WriteLine("ready");
        long printed = -1;
        var lastPrint = Environment.TickCount64;
        while (!stop.Wait(IntervalMs))
        {
            socket.Drain(ref sink, int.MaxValue);
            if (sink.Records != printed && Environment.TickCount64 - lastPrint >= 250)
            {
                Console.WriteLine($"events {sink.Events} records {sink.Records}");
                printed = sink.Records;
                lastPrint = Environment.TickCount64;
            }
        }
        socket.Drain(ref sink, int.MaxValue);
        var counters = socket.Counters;
        Console.WriteLine($"events {sink.Events} records {sink.Records}");
        Console.WriteLine($"final enobufs {counters.Enobufs} truncated {counters.Truncated} drops {socket.GetMemoryInfo().Drops}");
        socket.ReleaseConsumer();
        return 0;
    }
}
