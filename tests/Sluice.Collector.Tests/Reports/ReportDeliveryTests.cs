using Sluice.Collector.Reports;
using Sluice.Collector.Reports.Sections;
using Sluice.Collector.Storage;
using Sluice.Collector.Tests.Support;
using static Sluice.Collector.Tests.Reports.ReportDataset;

namespace Sluice.Collector.Tests.Reports;

/// <summary>
/// Delivery facts in the report, for each store: <see cref="ReportDataset"/> in a real store, with the facts given
/// by the test (the store's own are tested with the store). Host d is otherwise continuous and complete, so each
/// problem alone must make it incomplete and be named in its verdict.
/// </summary>
public abstract class ReportDeliveryTests : PerStoreTests
{
    private protected ReportDeliveryTests(IStoreFactory stores) : base(stores)
    {
    }

    private static readonly TimeProvider Fixed = new FixedTime(End + 60 * Minute);
    private const string EpochD = "0123abcd4567ef890123abcd4567ef89";

    private readonly List<DeliveryQuery> _queries = [];

    private async Task<ComplianceReport> BuildAsync(IReadOnlyList<DeliveryFacts> facts, ReportRequest? request = null, Func<IEventStore, Task>? more = null)
    {
        var (store, _) = await Stores.CreateAsync();
        await using var _s = store;
        await FeedAsync(store);
        if (more is not null)
        {
            await more(store);
        }
        var builder = new ReportBuilder((IReportSource)store, (query, _) =>
        {
            _queries.Add(query);
            return Task.FromResult(facts);
        }, Fixed);
        return await builder.BuildAsync(request ?? new ReportRequest(T0, End, null, null), CancellationToken.None);
    }

    private static HostCoverage Host(ComplianceReport r, string agent) => r.Coverage.Single(h => h.AgentId == agent);

    private static BatchRefusal Refusal(ulong sequence, string status, int events, long at) =>
        new("d", "d.example", "boot", EpochD, sequence, status, "refused for the test", events, "digest" + sequence, at);

    [Fact]
    public async Task NoProblem_HostStaysCompleteAndTheQueryCoversTheRange()
    {
        var r = await BuildAsync([new DeliveryFacts { AgentId = "d", Epochs = 1, LatestEpoch = EpochD }]);

        var d = Host(r, "d");
        Assert.True(d.Complete);
        Assert.Equal("continuous, complete", d.Verdict);
        Assert.Equal((1, EpochD, 0L, 0L, 0L), (d.Delivery.Epochs, d.Delivery.LatestEpoch, d.Delivery.DeliveryGaps, d.Delivery.RefusedBatches, d.Delivery.Conflicts));
        Assert.False(d.Delivery.AnyProblem);
        // Agents the facts do not mention have nothing wrong with delivery.
        Assert.False(Host(r, "a").Delivery.AnyProblem);
        Assert.Equal([new DeliveryQuery(null, T0, End)], _queries);
        Assert.Equal((4, 1, 0L, 0L, 0), (r.Totals.Hosts, r.Totals.Complete, r.Totals.DeliveryGaps, r.Totals.RefusedBatches, r.Totals.InterleavedHosts));
        // The JSON shows the figures, not the records behind them.
        using var json = System.Text.Json.JsonDocument.Parse(ReportJson.Serialize(r));
        var host = json.RootElement.GetProperty("coverage")[3];
        Assert.Equal("d", host.GetProperty("agent_id").GetString());
        Assert.False(host.GetProperty("loss").TryGetProperty("totals", out _));
        Assert.False(host.GetProperty("delivery").TryGetProperty("facts", out _));
        Assert.Equal(EpochD, host.GetProperty("delivery").GetProperty("latest_epoch").GetString());
        Assert.False(host.GetProperty("delivery").GetProperty("any_problem").GetBoolean());
    }

    [Fact]
    public async Task AgentFilter_PassedToTheFacts()
    {
        await BuildAsync([], new ReportRequest(T0, End, "b", null));

        Assert.Equal([new DeliveryQuery("b", T0, End)], _queries);
    }

    [Fact]
    public async Task DeliveryGaps_NotCompleteVerdictNamesCountAndRanges()
    {
        var facts = new DeliveryFacts
        {
            AgentId = "d", Epochs = 1, LatestEpoch = EpochD, MissingSequences = 4, ExplainedByAgent = 1,
            Gaps = [new SequenceGap(EpochD, 5, 7), new SequenceGap(EpochD, 9, 9)],
        };

        var r = await BuildAsync([facts]);

        var d = Host(r, "d");
        Assert.False(d.Complete);
        Assert.Equal("gaps: 3 batches never received (delivery gaps: 4 sequences missing, 1 of them reported dropped by the agent; missing 0123abcd 5-7, 0123abcd 9)", d.Verdict);
        Assert.Equal((4L, 1L, 3L), (d.Delivery.MissingSequences, d.Delivery.ExplainedByAgent, d.Delivery.DeliveryGaps));
        Assert.Equal([(EpochD, 5UL, 7UL, 3UL), (EpochD, 9UL, 9UL, 1UL)], d.Delivery.Gaps.Select(g => (g.Epoch, g.From, g.To, g.Batches)));
        Assert.Equal((0, 3L), (r.Totals.Complete, r.Totals.DeliveryGaps));
        // Still continuous: the gap is in delivery, not in the agent's presence.
        Assert.Equal([(T0, End, true)], d.Intervals.Select(i => (i.StartUnixMs, i.EndUnixMs, i.Connected)));
    }

    [Fact]
    public async Task GapsAllExplainedByTheAgent_NoDeliveryGapButTheSpoolDropIsLoss()
    {
        // The agent reported the two missing batches itself (spool_dropped_batches): not a delivery gap. That
        // report is loss of its own, in the batches table: this test's store has none, so d stays complete.
        var r = await BuildAsync([new DeliveryFacts { AgentId = "d", Epochs = 1, MissingSequences = 2, ExplainedByAgent = 2, Gaps = [new SequenceGap("", 3, 4)] }]);

        var d = Host(r, "d");
        Assert.Equal(0, d.Delivery.DeliveryGaps);
        Assert.True(d.Complete);
        Assert.Equal("continuous, complete", d.Verdict);
    }

    [Fact]
    public async Task Refusals_ByStatusFromTheStoreAndConflictsNamed()
    {
        var facts = new DeliveryFacts { AgentId = "d", Epochs = 1, RefusedBatches = 3, RefusedEvents = 25, Conflicts = 1 };

        var r = await BuildAsync([facts], more: async store =>
        {
            await store.RecordRefusalAsync(Refusal(4, "InvalidArgument", 10, T0 + 5 * Minute), CancellationToken.None);
            await store.RecordRefusalAsync(Refusal(5, "InvalidArgument", 10, T0 + 6 * Minute), CancellationToken.None);
            // A resend of the same key and status: one row, counted twice; still one batch.
            await store.RecordRefusalAsync(Refusal(5, "InvalidArgument", 10, T0 + 7 * Minute), CancellationToken.None);
            await store.RecordRefusalAsync(Refusal(6, "AlreadyExists", 5, T0 + 8 * Minute), CancellationToken.None);
            // First refused before the range: not in it.
            await store.RecordRefusalAsync(Refusal(2, "InvalidArgument", 7, T0 - 5 * Minute), CancellationToken.None);
        });

        var d = Host(r, "d");
        Assert.False(d.Complete);
        Assert.Equal([("AlreadyExists", 1L, 5L), ("InvalidArgument", 2L, 20L)], d.Delivery.RefusedByStatus.Select(x => (x.Status, x.Batches, x.Events)));
        Assert.Equal("gaps: 3 batches refused (25 events, 1 of them conflicts: key taken by other content; AlreadyExists 1 (5 events), InvalidArgument 2 (20 events))", d.Verdict);
        Assert.Equal((3L, 25L, 1L), (r.Totals.RefusedBatches, r.Totals.RefusedEvents, r.Totals.Conflicts));
    }

    [Fact]
    public async Task RefusalsUnrecorded_NotComplete()
    {
        var r = await BuildAsync([new DeliveryFacts { AgentId = "d", Epochs = 1, RefusalsUnrecorded = 2 }]);

        var d = Host(r, "d");
        Assert.False(d.Complete);
        Assert.Equal("gaps: 2 more refusals not recorded (the agent's refusal records are full)", d.Verdict);
        Assert.Equal(2, r.Totals.RefusalsUnrecorded);
    }

    [Fact]
    public async Task InterleavedEpochsAndBootIds_NamedAsTwoSendersUnderOneId()
    {
        var r = await BuildAsync(
        [
            new DeliveryFacts { AgentId = "a", Epochs = 2, InterleavedEpochs = true },
            new DeliveryFacts { AgentId = "d", Epochs = 1, InterleavedBootIds = true },
        ]);

        Assert.StartsWith("gaps: epochs interleave: two spools send as this agent (2 epochs); 4 lost ", Host(r, "a").Verdict);
        var d = Host(r, "d");
        Assert.False(d.Complete);
        Assert.Equal("gaps: boot ids interleave: two machines send as this agent (a cloned agent id)", d.Verdict);
        Assert.True(d.Delivery.InterleavedBootIds);
        Assert.Equal((2, 0), (r.Totals.InterleavedHosts, r.Totals.Complete));
    }

    [Fact]
    public async Task Markdown_DeliveryColumnsAndFleetLine()
    {
        var facts = new DeliveryFacts
        {
            AgentId = "d", Epochs = 1, MissingSequences = 4, ExplainedByAgent = 1,
            Gaps = [new SequenceGap(EpochD, 5, 7), new SequenceGap(EpochD, 9, 9)], RefusedBatches = 1, RefusedEvents = 5, Conflicts = 1,
        };

        var r = await BuildAsync([facts], more: store => store.RecordRefusalAsync(Refusal(6, "AlreadyExists", 5, T0 + 8 * Minute), CancellationToken.None));
        string md = ReportMarkdown.Render(r);

        Assert.Contains("| delivery_gaps | missing_sequences | explained_by_agent | missing_ranges | refused_batches | refused_events | refused_by_status | conflicts | refusals_unrecorded | epochs | interleaved_epochs | interleaved_boot_ids | rules_hash | last_seen |", md.Replace("\\_", "_"));
        Assert.Contains("| 3 | 4 | 1 | 0123abcd 5-7, 0123abcd 9 | 1 | 5 | AlreadyExists 1 (5 events) | 1 | 0 | 1 | no | no | h1 |", md);
        Assert.Contains("- Coverage: 0 of 4 hosts continuous and complete\n", md);
        Assert.Contains("- Delivery, all hosts: 3 batches never received; 1 batches refused (5 events, 1 conflicts); 0 refusals not recorded; 0 hosts with interleaved epochs or boot ids\n", md);
    }

    [Fact]
    public void Verdict_ManyLossesAndDeliveryProblems_DeliveryNeverLeftOut()
    {
        var losses = Enumerable.Range(0, 14).Select(i => new LossReport(T0 + i * 1000, T0 + 500 + i * 1000, new LossCounts { KernelLost = 1 })).ToList();
        var delivery = new HostDelivery { Facts = new DeliveryFacts { AgentId = "x", MissingSequences = 1, InterleavedEpochs = true, Epochs = 2 } };

        string v = CoverageVerdict.Of([], losses, null, delivery);

        Assert.StartsWith("gaps: 1 batches never received (delivery gaps: 1 sequences missing, 0 of them reported dropped by the agent); epochs interleave: two spools send as this agent (2 epochs); 1 lost 2025-11-25 00:00:00 to ", v);
        Assert.EndsWith("; and 2 more", v);
    }
}

public sealed class SqliteReportDeliveryTests() : ReportDeliveryTests(new SqliteStoreFactory());

[Collection(PostgresCollection.Name)]
public sealed class PostgresReportDeliveryTests(PostgresFixture pg) : ReportDeliveryTests(new PostgresStoreFactory(pg.Cluster));
