using Grpc.Net.Client;
using Sluice.Collector.Auth;
using Sluice.Collector.Hosting;
using Sluice.Collector.Storage;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;
using Sluice.Testing;
using static Sluice.Collector.Tests.Support.CollectorHarness;
using IngestClient = Sluice.Protocol.V1.Ingest.IngestClient;

namespace Sluice.Collector.Tests.Fleet;

/// <summary>
/// A small real fleet through real gRPC: 200 agents, each with its own token, epoch and HTTP/2 connection, all at once, a
/// heartbeat and then batches one after the other (the next only once the last is acknowledged, as the agent ships),
/// into a collector with its default limits (64 calls in flight, the rest waiting for a slot). Every call is answered,
/// none refused, and every agent's batches are stored exactly once. The figures at 1,000 and 10,000 agents come from the
/// benchmarks' <c>fleet</c> simulator (tests/Sluice.Benchmarks/README.md, "Collector under a fleet").
/// </summary>
public abstract class SmallFleetTests : PerStoreTests
{
    private const int Agents = 200;
    private const int BatchesPerAgent = 3;
    private const int EventsPerBatch = 5;

    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-small-fleet-").FullName;

    private protected SmallFleetTests(IStoreFactory stores) : base(stores)
    {
    }

    public override void Dispose()
    {
        Directory.Delete(_dir, recursive: true);
        base.Dispose();
    }

    private static string Agent(int i) => $"fleet-{i:D3}";
    private static string Token(int i) => $"fleet-token-{i:D3}-0123456789abcdef";

    [Fact]
    public async Task TwoHundredAgentsAtOnce_EveryCallAnswered_EveryBatchStoredOnce()
    {
        string tokens = Path.Combine(_dir, "tokens");
        PrivateFile.Write(tokens, string.Concat(Enumerable.Range(0, Agents).Select(i => AgentTokens.HashedLine(Agent(i), Token(i)) + "\n")));
        var (store, _) = await Stores.CreateAsync();
        await using var server = await CollectorServer.StartAsync(new CollectorOptions
        {
            Listen = "127.0.0.1:0",
            Store = new StoreLocation(StoreKind.Sqlite, "unused: the store is given"),
            TokensFile = tokens,
        }, store);
        var channels = Enumerable.Range(0, Agents).Select(_ => GrpcChannel.ForAddress(server.Address, new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = false },
        })).ToList();
        try
        {
            var acks = await Task.WhenAll(Enumerable.Range(0, Agents).Select(i => Task.Run(async () =>
            {
                var client = new IngestClient(channels[i]);
                var headers = Bearer(Token(i));
                string epoch = Guid.NewGuid().ToString("N");
                await client.HeartbeatAsync(new AgentHeartbeat
                {
                    AgentId = Agent(i),
                    Hostname = Agent(i) + ".test",
                    BootId = "5e1f0c1a-0000-4000-8000-000000000003",
                    Version = "test",
                    Mode = "unicast",
                    Epoch = epoch,
                    TimeUnixMs = TestEvents.BaseUnixMs,
                }, headers);
                var answered = new List<Ack>();
                for (ulong sequence = 1; sequence <= BatchesPerAgent; sequence++)
                {
                    var batch = TestEvents.Batch(Agent(i), sequence, EventsPerBatch, firstSerial: (long)sequence * 100);
                    batch.Epoch = epoch;
                    batch.EpochStartSequence = 1;
                    answered.Add(await client.SendAsync(batch, headers));
                }
                return answered;
            })));

            Assert.All(acks.SelectMany(a => a), a => Assert.Equal((false, (uint)EventsPerBatch), (a.Duplicate, a.EventsStored)));
            Assert.All(acks, a => Assert.Equal([1ul, 2ul, 3ul], a.Select(x => x.Sequence)));
            var c = server.Counters;
            Assert.Equal((Agents * BatchesPerAgent, 0L, 0L, 0L), (c.BatchesStored, c.Duplicates, c.RefusedOverLimit, c.StoreFailures));
            var stats = await server.Store.GetAgentStatsAsync(CancellationToken.None);
            Assert.Equal(Enumerable.Range(0, Agents).Select(Agent), stats.Select(s => s.AgentId).Order(StringComparer.Ordinal));
            Assert.All(stats, s => Assert.Equal(((long)BatchesPerAgent, (long)BatchesPerAgent * EventsPerBatch), (s.Batches, s.Events)));
            Assert.All(stats, s => Assert.NotNull(s.LastHeartbeatUnixMs));
            // Sequence by sequence: 1..3 of each agent's one epoch, nothing missing (a gap would be a delivery fact).
            var facts = await server.Store.GetDeliveryFactsAsync(new DeliveryQuery(), CancellationToken.None);
            Assert.Equal(Agents, facts.Count);
            Assert.All(facts, f => Assert.Equal((1, 0L, 0L, false), (f.Epochs, f.MissingSequences, f.RefusedBatches, f.AnyProblem)));
        }
        finally
        {
            channels.ForEach(ch => ch.Dispose());
            await store.DisposeAsync();
        }
    }
}

public sealed class SqliteSmallFleetTests() : SmallFleetTests(new SqliteStoreFactory());

[Collection(PostgresCollection.Name)]
public sealed class PostgresSmallFleetTests(PostgresFixture pg) : SmallFleetTests(new PostgresStoreFactory(pg.Cluster));
