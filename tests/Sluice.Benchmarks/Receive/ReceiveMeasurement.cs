using System.Diagnostics;
using Sluice.Audit.Netlink;
using Sluice.Audit.Rules;
using Sluice.Audit.Tables;

namespace Sluice.Benchmarks.Receive;

/// <summary>
/// recvmmsg against one datagram per call, on the real kernel: the consumer's CPU per record
/// while a getppid loop produces events at a fixed rate. Run as root:
/// <c>dotnet run -c Release --project tests/Sluice.Benchmarks -- receive [events] [rate] [runs]</c>.
/// Takes the kernel test lock, and restores the status and rules it changed.
/// </summary>
public static class ReceiveMeasurement
{
    private sealed class Discard : IAuditRecordSink
    {
        public long Count;

        public void OnRecord(AuditMessageType type, ReadOnlySpan<byte> text) => Count++;
    }

    public static int Run(string[] args)
    {
        int events = args.Length > 1 ? int.Parse(args[1]) : 300_000;
        int rate = args.Length > 2 ? int.Parse(args[2]) : 60_000;
        int runs = args.Length > 3 ? int.Parse(args[3]) : 3;
        string burst = Environment.GetEnvironmentVariable("SLUICE_SYSCALL_BURST") ?? Path.Combine(AppContext.BaseDirectory, "syscall_burst");
        if (!File.Exists(burst))
        {
            var cc = Process.Start("gcc", $"-O2 -o {burst} {Path.Combine(AppContext.BaseDirectory, "Native", "syscall_burst.c")}")!;
            cc.WaitForExit();
        }
        using var lockFile = new FileStream("/run/lock/sluice-kernel-audit-tests.lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        using var control = AuditControlClient.Open();
        var before = control.GetStatus();
        var key = "sluice-bench-receive";
        var mask = new uint[64];
        mask[110 / 32] |= 1u << (110 % 32);
        var rule = KernelRule.Create(4, 2, mask, [(11, 0x40000000, 0xC000003E), (18, 0x40000000, (uint)Environment.ProcessId), (210, 0x40000000, (uint)key.Length)], System.Text.Encoding.ASCII.GetBytes(key));
        Console.WriteLine($"| batch (datagrams per call) | records | CPU µs per record | CPU µs per event | lost | socket drops |");
        Console.WriteLine($"|---|---|---|---|---|---|");
        try
        {
            control.SetBacklogWaitTime(0);
            control.SetBacklogLimit(65752);
            control.SetEnabled(1);
            control.AddRule(rule);
            foreach (int batch in new[] { 1, 64, 1, 64, 1, 64 }.Take(2 * runs))
            {
                using var socket = AuditEventSocket.Open(AuditReceiveMode.Unicast, batch);
                socket.SetReceiveBuffer(64 << 20);
                socket.ClaimConsumer();
                uint lost0 = control.GetStatus().Lost;
                var sink = new Discard();
                var producer = Process.Start(new ProcessStartInfo(burst, $"{events} {rate}") { RedirectStandardOutput = true })!;
                var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                // Drain every 100 ms, as the agent does under load (docs/kernel-audit.md: the C reference reader).
                while (!producer.HasExited || socket.WaitReadable(TimeSpan.FromMilliseconds(200)))
                {
                    Thread.Sleep(100);
                    socket.Drain(ref sink, int.MaxValue);
                }
                socket.Drain(ref sink, int.MaxValue);
                var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu0 - TimeSpan.Zero;
                uint lost = control.GetStatus().Lost - lost0;
                var mem = socket.GetMemoryInfo();
                socket.ReleaseConsumer();
                double us = cpu.TotalMicroseconds;
                Console.WriteLine($"| {batch} | {sink.Count} | {us / sink.Count:0.00} | {us / Math.Max(1, sink.Count / 3.0):0.00} | {lost} | {mem.Drops} |");
            }
        }
        finally
        {
            try { control.DeleteRule(rule); } catch (AuditException) { }
            control.SetEnabled(before.Enabled);
            control.SetBacklogLimit(before.BacklogLimit);
            if (before.BacklogWaitTime is uint w)
            {
                control.SetBacklogWaitTime(w);
            }
        }
        return 0;
    }
}
