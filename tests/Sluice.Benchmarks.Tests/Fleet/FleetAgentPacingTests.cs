using System.Diagnostics;
using System.Net;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Sluice.Benchmarks.Fleet;
using Sluice.Protocol.V1;

namespace Sluice.Benchmarks.Tests.Fleet;

/// <summary>
/// A simulated agent against a collector of the test's own (in process, on loopback) whose acks ask for a pace: the
/// next batch goes out no sooner than the pace after the ack, the batches due meanwhile follow one per call, and the
/// agent counts what it was asked and held back.
/// </summary>
public sealed class FleetAgentPacingTests : IAsyncLifetime
{
    private static readonly Lazy<FleetPayloads> Payloads = new(() => FleetPayloads.Load(4096));

    private readonly PacingCollector _collector = new();
    private WebApplication _app = null!;
    private GrpcChannel _channel = null!;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(_collector);
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
        _app = builder.Build();
        _app.MapGrpcService<PacingIngest>();
        await _app.StartAsync();
        _channel = GrpcChannel.ForAddress(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
    }

    public async Task DisposeAsync()
    {
        _channel.Dispose();
        await _app.DisposeAsync();
    }

    private FleetAgent Agent(int intervalMs) =>
        new("fleet-00001", "token", _channel.CreateCallInvoker(), Payloads.Value,
            new FleetOptions { Agents = 1, Seconds = 10, Store = "sqlite", BatchIntervalMs = intervalMs, BatchMedian = 3, BurstEvery = 0 },
            new FleetCounters(), seed: 1);

    private static double Ms(long from, long to) => (to - from) * 1000.0 / Stopwatch.Frequency;

    [Fact]
    public void Pace_AsAskedUpToTheAgentsCap()
    {
        Assert.Equal(TimeSpan.Zero, FleetAgent.Pace(0));
        Assert.Equal(TimeSpan.FromMilliseconds(250), FleetAgent.Pace(250));
        Assert.Equal(TimeSpan.FromSeconds(60), FleetAgent.Pace(60_000));
        Assert.Equal(TimeSpan.FromSeconds(60), FleetAgent.Pace(uint.MaxValue));
    }

    [Fact]
    public async Task PacedAck_NextBatchNoSoonerThanThePaceAfterIt_ThenTheBatchesDueFollowAtOnce()
    {
        // A batch every second; the ack of batch 2 asks for 3 s: batch 3 waits for it, and 3 to 5 come due meanwhile.
        _collector.PaceOf = sequence => sequence == 2 ? 3000u : 0u;
        var agent = Agent(1000);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(7));
        await agent.RunBatchesAsync(Stopwatch.GetTimestamp(), stop.Token, CancellationToken.None);

        var calls = _collector.Calls();
        Assert.True(calls.Count >= 4, $"{calls.Count} calls");
        // One batch per call, every sequence in turn: the batches held back are sent, none skipped.
        Assert.Equal(Enumerable.Range(1, calls.Count).Select(i => (ulong)i), calls.Select(c => c.Sequence));
        Assert.Equal(calls.Count, agent.LastAcked);
        Assert.True(Ms(calls[1].Answered, calls[2].Arrived) >= 3000, $"batch 3 {Ms(calls[1].Answered, calls[2].Arrived):F1} ms after the ack of 2");
        // Batch 4 was due long before batch 3 went out: it follows the ack of 3 at once (within 900 ms, a margin for a loaded
        // machine), not a schedule's interval (1 s) later.
        Assert.True(Ms(calls[2].Answered, calls[3].Arrived) < 900, $"batch 4 {Ms(calls[2].Answered, calls[3].Arrived):F1} ms after the ack of 3");
        Assert.Equal(1, agent.PacedAcks);
        Assert.Equal([3000f], agent.PaceAskedMs);
        Assert.Equal(1, agent.DeferredBatches);
    }

    [Fact]
    public async Task PaceLongerThanTheRun_NothingMoreSent_BehindScheduleAtTheStop()
    {
        _collector.PaceOf = sequence => sequence == 2 ? 30_000u : 0u;
        var agent = Agent(100);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(3));
        long t0 = Stopwatch.GetTimestamp();
        await agent.RunBatchesAsync(t0, stop.Token, CancellationToken.None);
        long end = Stopwatch.GetTimestamp();

        // The run stops while the agent waits out the pace: it does not wait on.
        Assert.True(Ms(t0, end) < 10_000, $"stopped after {Ms(t0, end):F0} ms");
        var calls = _collector.Calls();
        Assert.Equal([1UL, 2UL], calls.Select(c => c.Sequence));
        Assert.Equal(2, agent.LastAcked);
        // Batch 3 was due at most an interval after batch 2 went out: the agent is at least that far behind at the stop.
        double lowest = Ms(calls[1].Arrived, t0 + 3 * Stopwatch.Frequency) - 100;
        Assert.True(agent.FinalLagMs >= lowest - 20, $"{agent.FinalLagMs:F0} ms behind, at least {lowest:F0} expected");
        Assert.Equal(1, agent.PacedAcks);
        Assert.Equal([30_000f], agent.PaceAskedMs);
        // Held back, but never sent in the run.
        Assert.Equal(0, agent.DeferredBatches);
    }

    [Fact]
    public async Task WarmUp_NoScheduleButThePaceHonoured()
    {
        _collector.PaceOf = sequence => sequence == 1 ? 300u : 0u;
        var agent = Agent(1000);
        await agent.SendBatchesAsync(3);

        var calls = _collector.Calls();
        Assert.Equal([1UL, 2UL, 3UL], calls.Select(c => c.Sequence));
        Assert.True(Ms(calls[0].Answered, calls[1].Arrived) >= 300, $"batch 2 {Ms(calls[0].Answered, calls[1].Arrived):F1} ms after the ack of 1");
        Assert.Equal(1, agent.PacedAcks);
    }

    /// <summary>What the test's collector saw, and the pace it asks in the ack of each sequence.</summary>
    internal sealed class PacingCollector
    {
        private readonly List<(ulong Sequence, long Arrived, long Answered)> _calls = [];

        public Func<ulong, uint> PaceOf { get; set; } = _ => 0;

        public void Add(ulong sequence, long arrived, long answered)
        {
            lock (_calls)
            {
                _calls.Add((sequence, arrived, answered));
            }
        }

        /// <summary>Each call: its sequence, when it arrived and when its ack was sent (<see cref="Stopwatch"/> timestamps).</summary>
        public List<(ulong Sequence, long Arrived, long Answered)> Calls()
        {
            lock (_calls)
            {
                return [.. _calls];
            }
        }
    }

    private sealed class PacingIngest(PacingCollector collector) : Ingest.IngestBase
    {
        public override Task<Ack> Send(EventBatch request, ServerCallContext context)
        {
            long arrived = Stopwatch.GetTimestamp();
            var ack = new Ack { Sequence = request.Sequence, EventsStored = (uint)request.Events.Count, NextSendAfterMs = collector.PaceOf(request.Sequence) };
            collector.Add(request.Sequence, arrived, Stopwatch.GetTimestamp());
            return Task.FromResult(ack);
        }
    }
}
