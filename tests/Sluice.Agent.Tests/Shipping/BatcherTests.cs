using Google.Protobuf;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Sluice.Agent.Shipping;
using Sluice.Agent.Tests.Spool;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Tests.Shipping;

public sealed class BatcherTests
{
    private static readonly AgentIdentity Identity = new("agent-b", "host-b", "boot-b");
    private readonly FakeTimeProvider _time = new(DateTimeOffset.FromUnixTimeMilliseconds(1_764_000_000_000));
    private readonly List<EventBatch> _cut = [];
    private readonly List<CutBatch> _raw = [];

    private Batcher Create(int maxEvents = 100, int maxBytes = 1024 * 1024, double maxDelayMs = 1000)
        => new(new BatcherOptions { MaxEvents = maxEvents, MaxBytes = maxBytes, MaxDelay = TimeSpan.FromMilliseconds(maxDelayMs) }, Identity, Keep, _time, () => "rules-1");

    // The sink sees the events buffer only while it runs: keep a parsed copy, and the cut's own figures.
    private void Keep(CutBatch b)
    {
        _cut.Add(b.ToEventBatch());
        _raw.Add(new CutBatch(b.Header, b.Events.ToArray(), b.EventCount, b.HighestSerial));
    }

    [Fact]
    public void Add_MaxEventsReached_CutsExactlyThatMany()
    {
        using var batcher = Create(maxEvents: 10);
        for (ulong i = 0; i < 25; i++)
        {
            batcher.Add(TestBatches.CreateEvent(i));
        }
        Assert.Equal(new[] { 10, 10 }, _cut.Select(b => b.Events.Count));
        Assert.Equal(Enumerable.Range(0, 20).Select(i => (ulong)i), _cut.SelectMany(b => b.Events).Select(e => e.Serial));
        Assert.All(_cut, b => Assert.Equal(("agent-b", "host-b", "boot-b", "rules-1"), (b.AgentId, b.Hostname, b.BootId, b.RulesHash)));
        Assert.Equal(2, batcher.CutsBySize);
        Assert.Equal(new[] { 10, 10 }, _raw.Select(b => b.EventCount));
        Assert.Equal(new uint?[] { 9, 19 }, _raw.Select(b => b.HighestSerial));
        Assert.All(_raw, b => Assert.Empty(b.Header.Events));
    }

    [Fact]
    public void Add_ManyLargeEvents_BytesAreTheSerializedBatch()
    {
        // Events larger than the buffer the batcher starts with, so that it grows while a batch fills.
        using var batcher = Create(maxEvents: 50, maxBytes: 4 * 1024 * 1024);
        var added = new List<Event>();
        for (ulong i = 0; i < 120; i++)
        {
            var e = TestBatches.CreateEvent(i);
            e.Records.Add(new Sluice.Protocol.V1.Record { Type = 1309, TypeName = "EXECVE", Raw = ByteString.CopyFrom(new byte[5000 + (int)i]) });
            added.Add(e.Clone());
            batcher.Add(e);
        }
        batcher.Flush();
        Assert.Equal(new[] { 50, 50, 20 }, _cut.Select(b => b.Events.Count));
        Assert.Equal(added, _cut.SelectMany(b => b.Events));
        for (int i = 0; i < _cut.Count; i++)
        {
            // What the spool writes (header bytes, then the events) parses back to the same batch.
            var whole = _raw[i].Header.ToByteArray().Concat(_raw[i].Events.ToArray()).ToArray();
            Assert.Equal(_cut[i], EventBatch.Parser.ParseFrom(whole));
        }
    }

    [Fact]
    public void Add_SerialsWrapping_HighestIsModulo32Bits()
    {
        using var batcher = Create(maxEvents: 3);
        batcher.Add(TestBatches.CreateEvent(uint.MaxValue - 1));
        batcher.Add(TestBatches.CreateEvent(1));
        batcher.Add(TestBatches.CreateEvent(uint.MaxValue));
        Assert.Equal(1u, Assert.Single(_raw).HighestSerial);
    }

    [Fact]
    public void Add_MaxBytesReached_CutsBeforeTheEventThatWouldPassIt()
    {
        int eventSize = TestBatches.CreateEvent(0).CalculateSize() + 3;
        using var batcher = Create(maxBytes: eventSize * 5 + eventSize / 2);
        for (ulong i = 0; i < 12; i++)
        {
            batcher.Add(TestBatches.CreateEvent(i));
        }
        Assert.Equal(new[] { 5, 5 }, _cut.Select(b => b.Events.Count));
        Assert.All(_cut, b => Assert.True(b.CalculateSize() < eventSize * 6));
    }

    [Fact]
    public void Add_MaxDelayPassed_CutsWhatIsOpenWithTheInterval()
    {
        using var batcher = Create(maxDelayMs: 500);
        batcher.Add(TestBatches.CreateEvent(1));
        _time.Advance(TimeSpan.FromMilliseconds(499));
        Assert.Empty(_cut);
        batcher.Add(TestBatches.CreateEvent(2));
        _time.Advance(TimeSpan.FromMilliseconds(1));
        var batch = Assert.Single(_cut);
        Assert.Equal(2, batch.Events.Count);
        Assert.Equal(1_764_000_000_000, batch.IntervalStartUnixMs);
        Assert.Equal(1_764_000_000_500, batch.IntervalEndUnixMs);
        Assert.Equal(1, batcher.CutsByTime);
        // Nothing open: no empty batch.
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.Single(_cut);
    }

    [Fact]
    public void AddLoss_NoEvents_CutsALossOnlyBatchAfterMaxDelay()
    {
        using var batcher = Create(maxDelayMs: 200);
        batcher.AddLoss(new LossCounters { KernelLost = 7, SerialGaps = 2 });
        batcher.AddLoss(new LossCounters { KernelLost = 1 });
        _time.Advance(TimeSpan.FromMilliseconds(200));
        var batch = Assert.Single(_cut);
        Assert.Empty(batch.Events);
        Assert.Equal(8ul, batch.Loss.KernelLost);
        Assert.Equal(2ul, batch.Loss.SerialGaps);
    }

    [Fact]
    public void Add_SinkThrows_LossCountedAndCarriedByTheNextBatch()
    {
        bool fail = true;
        var received = new List<EventBatch>();
        using var batcher = new Batcher(new BatcherOptions { MaxEvents = 3 }, Identity, b =>
        {
            if (fail)
            {
                throw new IOException("disk full");
            }
            received.Add(b.ToEventBatch());
        }, _time);
        batcher.AddLoss(new LossCounters { KernelLost = 4 });
        for (ulong i = 0; i < 3; i++)
        {
            batcher.Add(TestBatches.CreateEvent(i));
        }
        Assert.Equal(1, batcher.SinkFailures);
        fail = false;
        for (ulong i = 3; i < 6; i++)
        {
            batcher.Add(TestBatches.CreateEvent(i));
        }
        var batch = Assert.Single(received);
        // The failed batch's buffer was reused: the delivered one holds the later events only.
        Assert.Equal(new ulong[] { 3, 4, 5 }, batch.Events.Select(e => e.Serial));
        Assert.Equal(1ul, batch.Loss.SpoolDroppedBatches);
        Assert.Equal(3ul, batch.Loss.SpoolDroppedEvents);
        Assert.Equal(4ul, batch.Loss.KernelLost);
    }

    [Theory]
    [InlineData(0, 1024, 1000, "MaxEvents")]
    [InlineData(10, 10, 1000, "MaxBytes")]
    [InlineData(10, 1024, 0, "MaxDelay")]
    public void Constructor_InvalidLimits_ThrowsNamingTheLimit(int maxEvents, int maxBytes, double maxDelayMs, string name)
    {
        var e = Assert.Throws<OptionsValidationException>(() => Create(maxEvents, maxBytes, maxDelayMs));
        Assert.Contains(name, e.Message);
    }
}
