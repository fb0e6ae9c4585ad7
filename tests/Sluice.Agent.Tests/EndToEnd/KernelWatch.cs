using System.Globalization;
using System.Text;
using Sluice.Audit.Netlink;
using Sluice.Audit.Records;
using Sluice.Audit.Tables;

namespace Sluice.Agent.Tests.EndToEnd;

/// <summary>
/// Every event the kernel logs, by serial, from the audit multicast group (AUDIT_NLGRP_READLOG):
/// an independent witness of what was offered. kauditd multicasts each record from its main queue
/// whether or not a unicast consumer is registered, so this sees the events nobody received too.
/// </summary>
internal sealed class KernelWatch : IDisposable
{
    private readonly AuditEventSocket _socket;
    private readonly Thread _thread;
    private readonly Sink _sink = new();
    private volatile bool _stop;
    private Exception? _failure;

    private KernelWatch()
    {
        _socket = AuditEventSocket.Open(AuditReceiveMode.Multicast, batch: 256);
        _socket.SetReceiveBuffer(64 << 20);
        _thread = new Thread(Run) { IsBackground = true, Name = "kernel-watch" };
        _thread.Start();
    }

    public static KernelWatch Start() => new();

    /// <summary>One logged event: its serial, time, and for a SYSCALL record the pid and first argument.</summary>
    public readonly record struct Event(uint Serial, long UnixMs, ushort FirstType, int? Pid, long? A0);

    /// <summary>Times the multicast socket overflowed (records dropped for this watch): must be 0 for its view to be complete.</summary>
    public long Enobufs => _socket.Counters.Enobufs;

    /// <summary>Drains what is still queued, stops, and returns every event seen, by serial.</summary>
    public IReadOnlyDictionary<uint, Event> StopAndCollect()
    {
        _stop = true;
        _thread.Join();
        if (_failure is not null)
        {
            throw new InvalidOperationException("the multicast watch failed", _failure);
        }
        var sink = _sink;
        while (!_socket.Drain(ref sink, 4096).Empty)
        {
        }
        return _sink.Events;
    }

    private void Run()
    {
        var sink = _sink;
        try
        {
            while (!_stop)
            {
                if (_socket.WaitReadable(TimeSpan.FromMilliseconds(100)))
                {
                    _socket.Drain(ref sink, 4096);
                }
            }
        }
        catch (Exception e)
        {
            _failure = e;
        }
    }

    public void Dispose()
    {
        _stop = true;
        _thread.Join();
        _socket.Dispose();
    }

    private sealed class Sink : IAuditRecordSink
    {
        public Dictionary<uint, Event> Events { get; } = new();

        public void OnRecord(AuditMessageType type, ReadOnlySpan<byte> text)
        {
            if (!AuditRecordHeader.TryParse(text, out var header))
            {
                return;
            }
            if (type == AuditMessageType.Syscall)
            {
                string s = Encoding.ASCII.GetString(text[header.FieldsStart..]);
                Events[header.Serial] = new Event(header.Serial, header.UnixMilliseconds, (ushort)type,
                    int.TryParse(Field(s, "pid"), NumberStyles.None, CultureInfo.InvariantCulture, out int pid) ? pid : null,
                    long.TryParse(Field(s, "a0"), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out long a0) ? a0 : null);
            }
            else
            {
                Events.TryAdd(header.Serial, new Event(header.Serial, header.UnixMilliseconds, (ushort)type, null, null));
            }
        }

        private static string Field(string fields, string name)
        {
            int at = fields.StartsWith(name + "=", StringComparison.Ordinal) ? 0 : fields.IndexOf(" " + name + "=", StringComparison.Ordinal) + 1;
            if (at <= 0 && !fields.StartsWith(name + "=", StringComparison.Ordinal))
            {
                return "";
            }
            int start = at + name.Length + 1;
            int end = fields.IndexOf(' ', start);
            return end < 0 ? fields[start..] : fields[start..end];
        }
    }
}
