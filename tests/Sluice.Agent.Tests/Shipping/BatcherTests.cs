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

    private Batcher Create(int maxEvents = 100, int maxBytes = 1024 * 1024, double maxDelayMs = 1000)
        => new(new BatcherOptions { MaxEvents = maxEvents, MaxBytes = maxBytes, MaxDelay = TimeSpan.FromMilliseconds(maxDelayMs) }, Identity, _cut.Add, _time, () => "rules-1");

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
            received.Add(b);
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
