using System.Text;
using Google.Protobuf;
using Sluice.Protocol.V1;
using Record = Sluice.Protocol.V1.Record;

namespace Sluice.Agent.Tests.Support;

/// <summary>
/// The load generator's getppid event as the agent reassembles it, for the spool tests and the benchmark workloads
/// (Sluice.Benchmarks compiles this file by a link). Each caller adds its own records, SYSCALL + PROCTITLE + EOE,
/// and the fields its workload has beyond these.
/// </summary>
internal static class LoadgenEvent
{
    /// <summary>
    /// getppid by <c>/usr/local/bin/loadgen</c> (auid 1000, uid and euid <paramref name="uid"/>) at <paramref name="unixMs"/>,
    /// returning its parent <paramref name="ppid"/>.
    /// </summary>
    public static Event Getppid(ulong serial, long unixMs, uint pid, uint ppid, uint uid, string key) => new()
    {
        Serial = serial,
        Timestamp = Stamp(unixMs),
        TimeUnixMs = unixMs,
        Syscall = "getppid",
        Success = true,
        Exit = ppid,
        Pid = pid,
        Ppid = ppid,
        Uid = uid,
        Auid = 1000,
        Euid = uid,
        Comm = ByteString.CopyFromUtf8("loadgen"),
        Exe = ByteString.CopyFromUtf8("/usr/local/bin/loadgen"),
        Key = ByteString.CopyFromUtf8(key),
        Arch = "x86_64",
        FirstType = "SYSCALL",
    };

    /// <summary>The record timestamp, seconds and milliseconds, of <paramref name="unixMs"/>.</summary>
    public static string Stamp(long unixMs) => $"{unixMs / 1000}.{unixMs % 1000:D3}";

    /// <summary>A record of <paramref name="type"/> with this raw text.</summary>
    public static Record Raw(uint type, string text) => new() { Type = type, Raw = ByteString.CopyFrom(Encoding.ASCII.GetBytes(text)) };
}
