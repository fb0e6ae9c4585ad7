using BenchmarkDotNet.Attributes;
using Sluice.Audit.Records;
using Sluice.Audit.Tables;

namespace Sluice.Benchmarks.Records;

/// <summary>
/// Reassembly of the corpus (3799 records, 836 events) as the drain feeds it: header parse, grouping by
/// serial, copy into the pooled event, completion, serial tracking; the handler disposes each event
/// (what happens to events a filter drops).
/// </summary>
[MemoryDiagnoser, MinColumn, MedianColumn]
public class ReassembleBenchmarks
{
    private (AuditMessageType Type, byte[] Text)[] _records = [];
    private AuditReassembler _reassembler = null!;
    private long _events;

    public const int EventCount = 836;

    [GlobalSetup]
    public void Setup()
    {
        _records = Corpus.Records();
        _reassembler = new AuditReassembler(ev =>
        {
            _events++;
            ev.Dispose();
        }, new Corpus.FrozenTime());
        // fill the pools once
        Feed();
    }

    [Benchmark(OperationsPerInvoke = EventCount, Description = "reassemble, per event (4.5 records)")]
    public long Feed()
    {
        foreach (var (type, text) in _records)
        {
            _reassembler.Add(type, text);
        }
        return _events;
    }
}
