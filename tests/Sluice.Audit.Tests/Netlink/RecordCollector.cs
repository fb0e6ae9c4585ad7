using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Sluice.Audit.Netlink;
using Sluice.Audit.Tables;

namespace Sluice.Audit.Tests.Netlink;

/// <summary>A sink that keeps every record as text, and helpers to wait for records.</summary>
internal sealed partial class RecordCollector : IAuditRecordSink
{
    public List<(AuditMessageType Type, string Text)> Records { get; } = new();

    public void OnRecord(AuditMessageType type, ReadOnlySpan<byte> text) => Records.Add((type, Encoding.UTF8.GetString(text)));

    /// <summary>Drains until <paramref name="done"/> holds or the timeout passes.</summary>
    public bool DrainUntil(AuditEventSocket socket, Func<RecordCollector, bool> done, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        var self = this;
        while (sw.Elapsed < timeout)
        {
            socket.Drain(ref self, 10_000);
            if (done(this))
            {
                return true;
            }
            socket.WaitReadable(TimeSpan.FromMilliseconds(100));
        }
        return done(this);
    }

    public static ulong Serial(string text) => ulong.Parse(HeaderRegex().Match(text).Groups[2].Value);

    /// <summary>The serial of the SYSCALL record of process <paramref name="pid"/>, if received.</summary>
    public ulong? SyscallSerialOf(int pid) => Records
        .Where(r => r.Type == AuditMessageType.Syscall && r.Text.Contains($" pid={pid} "))
        .Select(r => (ulong?)Serial(r.Text))
        .FirstOrDefault();

    public List<(AuditMessageType Type, string Text)> EventOf(ulong serial) => Records.Where(r => Serial(r.Text) == serial).ToList();

    [GeneratedRegex(@"^audit\((\d+\.\d+):(\d+)\)")]
    private static partial Regex HeaderRegex();
}
