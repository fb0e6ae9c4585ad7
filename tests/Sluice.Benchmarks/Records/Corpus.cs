using Sluice.Audit.Records;
using Sluice.Audit.Tables;

namespace Sluice.Benchmarks.Records;

/// <summary>The shared corpus (copied next to the benchmark), as the live drain would hand it over: type and kernel text.</summary>
public static class Corpus
{
    public static string PathOf(string file) => Path.Combine(AppContext.BaseDirectory, "corpus", file);

    /// <summary>Every record of a log file: its type and its exact kernel text (no <c>type=</c> prefix, no enriched suffix).</summary>
    public static (AuditMessageType Type, byte[] Text)[] Records(string file = "kernel-6.18-raw.log")
    {
        var records = new List<(AuditMessageType, byte[])>();
        foreach (string line in File.ReadLines(PathOf(file)))
        {
            byte[] bytes = System.Text.Encoding.UTF8.GetBytes(line);
            if (AuditLogLine.TryParse(bytes, out AuditLogLine parsed) != AuditParseError.None)
            {
                throw new InvalidDataException($"corpus line does not parse: {line}");
            }
            records.Add((parsed.Type, parsed.KernelText.ToArray()));
        }
        return [.. records];
    }

    /// <summary>The records of one event, by serial.</summary>
    public static (AuditMessageType Type, byte[] Text)[] Event(uint serial) =>
        [.. Records().Where(r => AuditRecordHeader.TryParse(r.Text, out AuditRecordHeader h) && h.Serial == serial)];

    /// <summary>A time that never moves: the benchmarks never wait for timeouts.</summary>
    public sealed class FrozenTime : TimeProvider
    {
        public override long GetTimestamp() => 0;
    }
}
