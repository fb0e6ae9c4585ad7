using System.Diagnostics;
using Sluice.Collector.Reports;
using Sluice.Collector.Storage;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;
using Xunit.Abstractions;

namespace Sluice.Collector.Tests.Fleet;

/// <summary>
/// The dashboard's fleet view (the coverage-only report behind <c>/api/fleet</c>) over a store of 10,000 agents, each
/// with heartbeats and a batch: every host is there with its own counts, and its policy state is its LAST heartbeat's
/// (the view used to look that up with one query per host; it is now one query for the fleet). No timing is asserted;
/// the build time is written to the test output.
/// </summary>
public abstract class FleetViewScaleTests(ITestOutputHelper output) : IDisposable
{
    private const int Agents = 10_000;
    private const long Base = TestEvents.BaseUnixMs;

    private protected abstract IStoreFactory Stores { get; }

    [Fact]
    public async Task FleetView_TenThousandAgents_EveryHostWithItsOwnCountsAndLastHeartbeat()
    {
        var (store, _) = await Stores.CreateAsync();
        await using (store as IAsyncDisposable)
        {
            var build = Stopwatch.StartNew();
            // Every agent: one batch of 2 events; a heartbeat saying "policy-old", then (for every third agent) a later
            // one saying "policy-new"; every seventh agent has a third heartbeat AFTER the range, which must not count.
            await Parallel.ForEachAsync(Enumerable.Range(0, Agents), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (n, ct) =>
            {
                string id = Id(n);
                long t = Base + n;
                await store.StoreBatchAsync(TestEvents.Batch(id, 1, 2, startUnixMs: t), t + 100, ct);
                await store.StoreHeartbeatAsync(Beat(id, t + 200, "policy-old"), t + 200, ct);
                if (n % 3 == 0)
                {
                    await store.StoreHeartbeatAsync(Beat(id, t + 60_000, "policy-new"), t + 60_000, ct);
                }
                if (n % 7 == 0)
                {
                    await store.StoreHeartbeatAsync(Beat(id, Base + 3 * 3_600_000, "policy-after"), Base + 3 * 3_600_000, ct);
                }
            });
            output.WriteLine($"{Stores.Kind}: stored {Agents} agents in {build.Elapsed.TotalSeconds:F1} s");

            var time = new FixedTime(Base + 10 * 3_600_000);
            var request = new ReportRequest(Base - 3_600_000, Base + 3_600_000, null, null) { CoverageOnly = true };
            ComplianceReport report = null!;
            for (int i = 0; i < 3; i++)
            {
                var sw = Stopwatch.StartNew();
                report = await new ReportBuilder(store, time).BuildAsync(request, CancellationToken.None);
                output.WriteLine($"{Stores.Kind}: fleet view over {Agents} agents built in {sw.Elapsed.TotalMilliseconds:F0} ms");
            }

            Assert.Equal(Agents, report.Coverage.Count);
            Assert.Equal(Enumerable.Range(0, Agents).Select(Id).Order(StringComparer.Ordinal), report.Coverage.Select(h => h.AgentId));
            foreach (var (host, n) in report.Coverage.Select(h => (h, int.Parse(h.AgentId[6..], System.Globalization.CultureInfo.InvariantCulture))))
            {
                Assert.True((1L, 2L, n % 3 == 0 ? 2L : 1L) == (host.Batches, host.Events, host.Heartbeats),
                    $"{host.AgentId}: batches {host.Batches}, events {host.Events}, heartbeats {host.Heartbeats}");
            }
            Assert.Equal(Agents, report.Policy.Hosts.Count);
            foreach (var p in report.Policy.Hosts)
            {
                int n = int.Parse(p.AgentId[6..], System.Globalization.CultureInfo.InvariantCulture);
                long expectedBeat = Base + n + (n % 3 == 0 ? 60_000 : 200);
                Assert.True((n % 3 == 0 ? "policy-new" : "policy-old", (long?)expectedBeat) == (p.InForce, p.LastHeartbeatUnixMs),
                    $"{p.AgentId}: in force '{p.InForce}' from the heartbeat received at {p.LastHeartbeatUnixMs}, expected {expectedBeat}");
            }
            Assert.Same(report.Coverage.Single(h => h.AgentId == Id(42)).Policy, report.Policy.Hosts.Single(h => h.AgentId == Id(42)));
        }
    }

    private static string Id(int n) => $"fleet-{n:D5}";

    private static AgentHeartbeat Beat(string id, long t, string policy) => new()
    {
        AgentId = id,
        Hostname = id + ".example",
        BootId = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        TimeUnixMs = t,
        StartedUnixMs = Base - 1000,
        Mode = "unicast",
        RulesHash = "sha256:4f2a",
        PolicyHash = policy,
    };

    public virtual void Dispose() => GC.SuppressFinalize(this);
}

public sealed class SqliteFleetViewScaleTests(ITestOutputHelper output) : FleetViewScaleTests(output)
{
    private readonly SqliteStoreFactory _stores = new();
    private protected override IStoreFactory Stores => _stores;

    public override void Dispose()
    {
        _stores.Dispose();
        base.Dispose();
    }
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresFleetViewScaleTests(PostgresFixture pg, ITestOutputHelper output) : FleetViewScaleTests(output)
{
    private protected override IStoreFactory Stores { get; } = new PostgresStoreFactory(pg.Cluster);
}
