using Sluice.Collector.Storage;
using Sluice.Collector.Storage.Postgres;
using Sluice.Collector.Tests.Support;

namespace Sluice.Collector.Tests.Scale;

/// <summary>
/// Several <c>sluice-collector serve</c> processes started at the same moment on an empty PostgreSQL database
/// (as a deployment that starts every instance at once does): each comes up and serves, the schema is made
/// once, and it is the schema one collector alone makes. Schema creation is serialised by an advisory lock
/// (<c>PostgresEventStore.InitializeAsync</c>); without it, two <c>CREATE TABLE IF NOT EXISTS</c> of the same
/// table at once fail in one of them on the catalog's unique index.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class ConcurrentStartTests(PostgresFixture postgres)
{
    private const int Collectors = 5;

    /// <summary>Every column and index of the public schema, one line each, ordered: what two schemas are compared by.</summary>
    private const string SchemaQuery = """
        SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || coalesce(column_default, '') || ' ' || is_nullable
          FROM information_schema.columns WHERE table_schema = 'public'
        UNION ALL
        SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
        UNION ALL
        SELECT 'constraint ' || conrelid::regclass || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = 'public'::regnamespace
        ORDER BY 1
        """;

    [Fact]
    public async Task ManyCollectorsStartAtOnceOnAnEmptyDatabase_AllServe_OneSchema_NoError()
    {
        string store = "postgres:" + await postgres.Cluster.CreateDatabaseAsync();
        var identities = Enumerable.Range(1, Collectors).Select(i => ($"start-{i}", $"start-token-{i}-0123456789abcdef")).ToList();
        using var collectors = new ScaleCollectors(store, Collectors, identities);

        await collectors.StartAllAsync();

        // Each one serves: an agent per collector stores a batch through it.
        long t0 = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000 * 1000 - 60_000;
        for (int i = 0; i < Collectors; i++)
        {
            using var agent = new ScaleAgent(identities[i].Item1, identities[i].Item2, collectors.Urls, [i], t0, eventsPerBatch: 5);
            var ack = await agent.SendUntilAckedAsync(agent.Batch(1));
            Assert.False(ack.Duplicate);
            Assert.Equal(0, agent.Attempts.Count(a => a.Outcome is not ScaleAttempt.Stored));
        }
        Assert.Equal(Collectors, await StoreQuery.LongAsync(store, "SELECT count(*) FROM batches"));

        Assert.Equal(1, await StoreQuery.LongAsync(store, "SELECT count(*) FROM schema_info"));
        Assert.Equal(StoreSchema.Version, await StoreQuery.LongAsync(store, "SELECT version FROM schema_info"));
        string reference = await postgres.Cluster.CreateDatabaseAsync();
        await using (var alone = new PostgresEventStore(reference))
        {
            await alone.InitializeAsync(CancellationToken.None);
        }
        // The day partition the batches made is the one difference a served store has.
        static bool NotPartition(string? line) => !System.Text.RegularExpressions.Regex.IsMatch(line!, @"events_p\d{8}");
        var made = (await StoreQuery.RowsAsync(store, SchemaQuery)).Select(r => r[0]).Where(NotPartition).ToList();
        var expected = (await StoreQuery.RowsAsync("postgres:" + reference, SchemaQuery)).Select(r => r[0]).Where(NotPartition).ToList();
        Assert.NotEmpty(expected);
        Assert.Equal(expected, made);

        for (int i = 0; i < Collectors; i++)
        {
            var lines = collectors[i].Output.Split('\n');
            Assert.DoesNotContain(lines, l => l.StartsWith("fail:", StringComparison.Ordinal) || l.StartsWith("crit:", StringComparison.Ordinal)
                || l.Contains("Exception", StringComparison.Ordinal));
        }
    }
}
