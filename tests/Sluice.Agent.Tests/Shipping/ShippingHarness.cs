using Sluice.Agent.Shipping;
using Sluice.Agent.Spool;
using Sluice.Agent.Tests.Spool;
using Sluice.Protocol.V1;

namespace Sluice.Agent.Tests.Shipping;

/// <summary>A spool and a shipper in a temp directory, pointed at a <see cref="TestCollector"/>, remembering what was appended.</summary>
internal sealed class ShippingHarness : IAsyncDisposable
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private readonly TempDirectory _dir;
    private readonly IngestTransport? _transport;
    private CancellationTokenSource? _cts;
    private Task? _run;
    private ulong _nextSerial = 1;

    private ShippingHarness(TempDirectory dir, SpoolOptions spoolOptions, ShipperOptions shipperOptions, bool intercepted)
    {
        _dir = dir;
        SpoolOptions = spoolOptions;
        ShipperOptions = shipperOptions;
        if (intercepted)
        {
            _transport = IngestTransport.Create(shipperOptions);
            Client = new InterceptedIngestClient(_transport);
        }
        Spool = DiskSpool.Open(spoolOptions);
        Shipper = new Shipper(Spool, shipperOptions, Client);
    }

    /// <summary>The client the shipper sends through, when the harness was created with <c>intercepted</c>; otherwise null (the shipper's own).</summary>
    public InterceptedIngestClient? Client { get; }

    public SpoolOptions SpoolOptions { get; }

    public ShipperOptions ShipperOptions { get; }

    public DiskSpool Spool { get; private set; }

    public Shipper Shipper { get; private set; }

    public string Directory => _dir.Path;

    /// <summary>Sequence → event serials of every batch accepted by the spool.</summary>
    public Dictionary<ulong, ulong[]> Appended { get; } = [];

    public static ShipperOptions DefaultShipperOptions(TestCollector collector, string directory) => new()
    {
        CollectorUrl = collector.Url,
        AllowInsecureTransport = true,
        Token = collector.Token,
        RetryBaseDelay = TimeSpan.FromMilliseconds(10),
        RetryMaxDelay = TimeSpan.FromMilliseconds(200),
        AttemptTimeout = TimeSpan.FromSeconds(1),
        ConnectTimeout = TimeSpan.FromSeconds(1),
        BreakerBreakDuration = TimeSpan.FromMilliseconds(500),
        BreakerSamplingDuration = TimeSpan.FromSeconds(2),
        BreakerMinimumThroughput = 20,
        StallProbeInterval = TimeSpan.FromMilliseconds(300),
        QuarantineDirectory = Path.Combine(directory, "quarantine"),
    };

    /// <param name="intercepted">The shipper sends through <see cref="Client"/>, which can inject faults on the agent's side.</param>
    public static ShippingHarness Create(
        TestCollector collector, Action<ShipperOptions>? configure = null, Action<SpoolOptions>? configureSpool = null, TempDirectory? dir = null, bool intercepted = false)
    {
        dir ??= new TempDirectory("sluice-ship-test");
        var spool = new SpoolOptions { Directory = Path.Combine(dir.Path, "spool"), MaxBytes = 64L * 1024 * 1024, SegmentBytes = 1024 * 1024 };
        configureSpool?.Invoke(spool);
        var shipper = DefaultShipperOptions(collector, dir.Path);
        configure?.Invoke(shipper);
        return new ShippingHarness(dir, spool, shipper, intercepted);
    }

    public ulong Append(int events, int extraBytesPerEvent = 0)
    {
        var batch = TestBatches.Create(_nextSerial, events, extraBytesPerEvent);
        ulong sequence = Spool.Append(batch);
        Appended[sequence] = batch.Events.Select(e => e.Serial).ToArray();
        _nextSerial += (ulong)events;
        return sequence;
    }

    public void Start()
    {
        _cts = new CancellationTokenSource();
        _run = Shipper.RunAsync(_cts.Token);
    }

    public async Task StopAsync()
    {
        if (_cts is not null)
        {
            await _cts.CancelAsync();
            await _run!.WaitAsync(Patience);
            _cts.Dispose();
            _cts = null;
        }
    }

    /// <summary>Like a restart of the agent: stop, close, reopen the spool, new shipper. <paramref name="whileDown"/> gets the spool directory while nothing has it open.</summary>
    public async Task RestartAsync(Action<string>? whileDown = null)
    {
        await StopAsync();
        Shipper.Dispose();
        Spool.Dispose();
        whileDown?.Invoke(SpoolOptions.Directory);
        Spool = DiskSpool.Open(SpoolOptions);
        Shipper = new Shipper(Spool, ShipperOptions, Client);
    }

    /// <summary>Waits until the spool holds no unacknowledged batch.</summary>
    public async Task WaitForEmptySpoolAsync()
    {
        var deadline = DateTime.UtcNow + Patience;
        while (Spool.Counters.DepthBatches > 0)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"spool still holds {Spool.Counters.DepthBatches} batches; shipper: {Shipper.Status}");
            }
            await Task.Delay(10);
        }
    }

    public static async Task WaitForAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("timed out waiting for " + what);
            }
            await Task.Delay(10);
        }
    }

    /// <summary>
    /// Every appended batch is stored exactly once under its sequence with the same events, and
    /// nothing else is stored: compared batch by batch and event by event.
    /// </summary>
    public void AssertStoredExactlyOnce(TestCollector collector, IEnumerable<ulong>? expectedSequences = null)
    {
        var expected = (expectedSequences ?? Appended.Keys).Order().ToList();
        var stored = collector.Stored.Keys.Where(k => k.Agent == TestBatches.AgentId).Select(k => k.Sequence).Order().ToList();
        Assert.Equal(expected, stored);
        var storedSerials = new List<ulong>();
        foreach (ulong sequence in expected)
        {
            EventBatch batch = collector.Batch(TestBatches.AgentId, sequence);
            var serials = batch.Events.Select(e => e.Serial).ToArray();
            Assert.Equal(Appended[sequence], serials);
            storedSerials.AddRange(serials);
        }
        Assert.Equal(storedSerials.Count, storedSerials.Distinct().Count());
        Assert.Equal(expected.Sum(s => Appended[s].Length), storedSerials.Count);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        Shipper.Dispose();
        _transport?.Dispose();
        Spool.Dispose();
        _dir.Dispose();
    }
}
