using BenchmarkDotNet.Attributes;
using Sluice.Audit.Records;
using Sluice.Audit.Tables;

namespace Sluice.Benchmarks.Records;

/// <summary>Parsing one record: its header and every field (key, value, kind), over all 3799 corpus records.</summary>
[MemoryDiagnoser, MinColumn, MedianColumn]
public class ParseBenchmarks
{
    private (AuditMessageType Type, byte[] Text)[] _records = [];

    [GlobalSetup]
    public void Setup() => _records = Corpus.Records();

    public const int RecordCount = 3799;

    [Benchmark(OperationsPerInvoke = RecordCount, Description = "parse header + all fields, per record")]
    public long HeaderAndFields()
    {
        long sum = 0;
        foreach (var (_, text) in _records)
        {
            if (!AuditRecordReader.TryCreate(text, out AuditRecordHeader header, out AuditRecordReader reader))
            {
                throw new InvalidOperationException("corpus record did not parse");
            }
            sum += header.Serial;
            while (reader.Read())
            {
                sum += reader.Key.Length + reader.Value.Length + (int)reader.ValueKind;
            }
        }
        return sum;
    }
}
