using BenchmarkDotNet.Attributes;
using Sluice.Audit.Accounts;
using Sluice.Audit.Records;
using Sluice.Audit.Tables;
using Sluice.Protocol.Json;
using Sluice.Protocol.Mapping;
using System.Buffers;

namespace Sluice.Benchmarks.Records;

/// <summary>
/// One execve event from the corpus (<c>/bin/ls -la /tmp</c>: SYSCALL, EXECVE, CWD, 2 PATH, PROCTITLE,
/// serial 1173841), from records to an interpreted summary; then to the protocol Event and its JSON line.
/// </summary>
[MemoryDiagnoser, MinColumn, MedianColumn]
public class InterpretBenchmarks
{
    private const uint Serial = 1173841;
    private (AuditMessageType Type, byte[] Text)[] _records = [];
    private AuditReassembler _reassembler = null!;
    private AuditEventSummary? _summary;
    private AuditEvent? _kept;
    private readonly ArrayBufferWriter<byte> _json = new(4096);
    private AccountNameCache _names = null!;

    [GlobalSetup]
    public void Setup()
    {
        _records = Corpus.Event(Serial);
        if (_records.Length < 5)
        {
            throw new InvalidOperationException($"serial {Serial} has {_records.Length} records in the corpus");
        }
        _reassembler = new AuditReassembler(ev =>
        {
            _summary = AuditEventInterpreter.Interpret(ev);
            ev.Dispose();
        }, new Corpus.FrozenTime());
        var keep = new AuditReassembler(ev => _kept = ev, new Corpus.FrozenTime());
        foreach (var (type, text) in _records)
        {
            keep.Add(type, text);
        }
        keep.Flush();
        Complete();
        if (_summary?.Syscall != "execve" || _summary.Argv is not { Count: 3 })
        {
            throw new InvalidOperationException("the benchmark event is not the expected execve");
        }
        // the capture host's passwd and group (the corpus's uid 0 and gid 0 are root there)
        _names = new AccountNameCache(Path.Combine(AppContext.BaseDirectory, "accounts"));
        if (AuditEventInterpreter.Interpret(_kept!, _names).Names is not { Uid: "root", Gid: "root", PathOuid.Length: 2 })
        {
            throw new InvalidOperationException("the benchmark event's ids were not named");
        }
    }

    [Benchmark(Description = "interpret only (event already reassembled)")]
    public AuditEventSummary Interpret() => AuditEventInterpreter.Interpret(_kept!);

    [Benchmark(Description = "interpret only, names on (uid..fsgid, 2 PATH owners)")]
    public AuditEventSummary InterpretWithNames() => AuditEventInterpreter.Interpret(_kept!, _names);

    [Benchmark(Baseline = true, Description = "records -> reassemble -> interpret (complete event)")]
    public AuditEventSummary? Complete()
    {
        foreach (var (type, text) in _records)
        {
            _reassembler.Add(type, text);
        }
        // the event ends at PROCTITLE; nothing is left in flight
        return _summary;
    }

    [Benchmark(Description = "interpret + proto Event + JSON line")]
    public int ToJsonLine()
    {
        var e = AuditEventMapper.ToProto(_kept!, AuditEventInterpreter.Interpret(_kept!));
        _json.ResetWrittenCount();
        EventJsonWriter.Write(_json, e);
        return _json.WrittenCount;
    }
}
