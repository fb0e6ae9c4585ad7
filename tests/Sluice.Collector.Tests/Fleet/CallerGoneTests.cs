using Grpc.Core;
using Grpc.Net.Client;
using Sluice.Collector.Tests.Adversarial;
using Sluice.Collector.Tests.Support;
using static Sluice.Collector.Tests.Support.CollectorHarness;
using IngestClient = Sluice.Protocol.V1.Ingest.IngestClient;

namespace Sluice.Collector.Tests.Fleet;

/// <summary>
/// A call whose caller gives up while the collector is storing it (an agent's attempt timeout under a fleet's load) is
/// counted as <c>caller_gone</c> and logged as one line of the collector's own, not as a gRPC error with a stack trace
/// per call; the batch is not acknowledged, and a resend stores it once.
/// </summary>
public sealed class CallerGoneTests : IDisposable
{
    private readonly SqliteStoreFactory _stores = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-gone-").FullName;

    [Fact]
    public async Task Send_CallerCancelsWhileStoring_CountedAndOneLineNoGrpcError()
    {
        var logs = new LogLines();
        await using var h = await FrontDoor.StartAsync(_stores, _dir, logs: logs, gated: true);
        using var channel = GrpcChannel.ForAddress(h.Server.Address);
        var client = new IngestClient(channel);
        using var cancel = new CancellationTokenSource();
        var call = client.SendAsync(TestEvents.Batch(AgentA, 1, 3), Bearer(TokenA), cancellationToken: cancel.Token).ResponseAsync;
        await h.Gate!.ArrivedAsync(1);
        cancel.Cancel();
        Assert.Equal(StatusCode.Cancelled, (await Assert.ThrowsAsync<RpcException>(() => call)).StatusCode);

        using var http = GrpcWire.Client();
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while ((await PreAuthenticationTests.CountersAsync(http, h.Server.Address))["caller_gone"] < 1)
        {
            Assert.True(DateTime.UtcNow < deadline, "the cancelled call was never counted as caller_gone");
            await Task.Delay(50);
        }
        var counters = await PreAuthenticationTests.CountersAsync(http, h.Server.Address);
        Assert.Equal((1L, 0L, 0L), (counters["caller_gone"], counters["batches_stored"], counters["store_failures"]));
        // The counter is raised before the line is logged: wait (bounded) for the line too.
        while (!logs.With(108).Any(l => l.Contains("Send from " + AgentA, StringComparison.Ordinal)))
        {
            Assert.True(DateTime.UtcNow < deadline, "the cancelled call was counted but its line was never logged");
            await Task.Delay(50);
        }
        Assert.Single(logs.With(108), l => l.Contains("Send from " + AgentA, StringComparison.Ordinal));
        Assert.DoesNotContain(logs.All, l => l.Category.StartsWith("Grpc", StringComparison.Ordinal));

        h.Gate.Open();
        Assert.Equal(3u, (await client.SendAsync(TestEvents.Batch(AgentA, 1, 3), Bearer(TokenA))).EventsStored);
    }

    public void Dispose()
    {
        _stores.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}
