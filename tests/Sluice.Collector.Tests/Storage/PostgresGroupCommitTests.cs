using Google.Protobuf;
using Npgsql;
using Sluice.Collector.Storage;
using Sluice.Collector.Storage.Postgres;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Tests.Storage;

/// <summary>
/// PostgreSQL writes the batches that arrive together in one transaction (<c>PostgresEventStore.Batches.cs</c>): every
/// batch is stored once as before, in fewer transactions than batches; within one flush a resend is a duplicate and
/// other content under a taken key a conflict, as alone; a batch that cannot be written fails its own call only, with
/// the error it meets alone.
/// </summary>
/// <remarks>
/// To put chosen batches in one flush, <see cref="Gate"/> holds both flushes on a row lock of an agent of its own, the
/// batches queue behind them in a known order, and the lock is let go: the next flush takes them all.
/// </remarks>
[Collection(PostgresCollection.Name)]
public sealed class PostgresGroupCommitTests(PostgresFixture pg)
{
    private const long Base = TestEvents.BaseUnixMs;
    private const long DayMs = PostgresSchema.DayMs;

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ManyAgentsAtOnce_EveryBatchStoredOnce_InFewerTransactions()
    {
        var (store, spec) = await new PostgresStoreFactory(pg.Cluster).CreateAsync();
        await using var _ = store;
        var postgres = Assert.IsType<PostgresEventStore>(store);
        const int agents = 100, perAgent = 3;
        var batches = (from a in Enumerable.Range(0, agents)
                       from s in Enumerable.Range(1, perAgent)
                       select TestEvents.Batch(Id(a), (ulong)s, 5 + (a * 7 + s * 11) % 30, firstSerial: s * 1000, startUnixMs: Base + a * 3 + s * 400))
                      .ToList();

        var outcomes = await Task.WhenAll(batches.Select(b => Task.Run(() => store.StoreBatchAsync(b, Base + 5000, CancellationToken.None))));

        Assert.Equal(batches.Select(b => new StoreOutcome(false, b.Events.Count)), outcomes);
        Assert.True(postgres.BatchTransactions < 150,
            $"{batches.Count} batches at once took {postgres.BatchTransactions} transactions: not written together");
        var read = await StoreSnapshot.EventsAsync(store);
        Assert.Equal(
            batches.SelectMany(b => b.Events.Select(e => (b.AgentId, b.Sequence, Convert.ToBase64String(e.ToByteArray())))).Order(),
            read.Select(r => (r.AgentId, r.Sequence, Convert.ToBase64String(r.Event.ToByteArray()))).Order());
        var keys = await StoreQuery.RowsAsync(spec, "SELECT a.agent_id, b.sequence, b.event_count FROM batches b JOIN agents a ON a.id = b.agent");
        Assert.Equal(
            batches.Select(b => $"{b.AgentId}/{b.Sequence}/{b.Events.Count}").Order(StringComparer.Ordinal),
            keys.Select(k => $"{k[0]}/{k[1]}/{k[2]}").Order(StringComparer.Ordinal));
        Assert.Equal(batches.Sum(b => b.Events.Count), await StoreQuery.LongAsync(spec, "SELECT COUNT(*) FROM events"));
        var stats = await store.GetAgentStatsAsync(CancellationToken.None);
        Assert.Equal(agents, stats.Count);
        Assert.All(stats, s => Assert.Equal((perAgent, 0L), (s.Batches, s.Duplicates)));
    }

    [Fact]
    public async Task OneFlush_ResendIsDuplicate_OtherContentUnderTheKeyIsConflict_FirstIntact()
    {
        var (store, spec) = await new PostgresStoreFactory(pg.Cluster).CreateAsync();
        await using var _ = store;
        var postgres = Assert.IsType<PostgresEventStore>(store);
        var first = TestEvents.Batch("a", 1, 4);
        var resend = TestEvents.Batch("a", 1, 4);
        var kept = TestEvents.Batch("b", 7, 3, firstSerial: 70);
        var other = TestEvents.Batch("b", 7, 5, firstSerial: 700);
        var plain = TestEvents.Batch("c", 1, 6);

        await using var gate = await Gate.HoldAsync(postgres, spec);
        var calls = new List<Task<StoreOutcome>>();
        foreach (var batch in new[] { first, resend, kept, other, plain })
        {
            calls.Add(await gate.QueueAsync(batch));
        }
        long before = postgres.BatchTransactions;
        await gate.ReleaseAsync();
        var outcomes = await Task.WhenAll(calls);

        Assert.Equal(new StoreOutcome(false, 4), outcomes[0]);
        Assert.Equal(new StoreOutcome(true, 0), outcomes[1]);
        Assert.Equal(new StoreOutcome(false, 3), outcomes[2]);
        Assert.Equal(new StoreOutcome(false, 0, BatchDigest.Of(kept)), outcomes[3]);
        Assert.Equal(new StoreOutcome(false, 6), outcomes[4]);
        // The held batches', then one for the flush and one each for the two batches settled after it.
        Assert.Equal(before + Gate.HeldTransactions + 1 + 2, postgres.BatchTransactions);
        var stats = (await store.GetAgentStatsAsync(CancellationToken.None)).ToDictionary(s => s.AgentId);
        Assert.Equal((1L, 4L, 1L), (stats["a"].Batches, stats["a"].Events, stats["a"].Duplicates));
        Assert.Equal((1L, 3L, 0L), (stats["b"].Batches, stats["b"].Events, stats["b"].Duplicates));
        Assert.Equal((1L, 6L, 0L), (stats["c"].Batches, stats["c"].Events, stats["c"].Duplicates));
        var b = await StoreSnapshot.EventsAsync(store, new EventQuery(AgentId: "b"));
        Assert.Equal(kept.Events.Select(e => e.ToByteArray()), b.Select(e => e.Event.ToByteArray()));
        Assert.Equal(BatchDigest.Of(kept), (await StoreQuery.RowsAsync(spec, "SELECT digest FROM batches WHERE sequence = 7")).Single()[0]);
    }

    [Theory]
    [InlineData("hostname")] // fails with the agent rows, before the flush's transaction
    [InlineData("epoch")]    // fails with the batch rows, inside it
    public async Task BadBatchInAFlush_FailsItsOwnCallOnly_WithTheErrorItMeetsAlone_OthersStored(string field)
    {
        var (store, spec) = await new PostgresStoreFactory(pg.Cluster).CreateAsync();
        await using var _ = store;
        var postgres = Assert.IsType<PostgresEventStore>(store);
        // PostgreSQL text cannot hold NUL: this batch fails in the database, alone or with others.
        var bad = TestEvents.Batch("bad", 1, 3);
        if (field == "hostname")
        {
            bad.Hostname = "host\0name";
        }
        else
        {
            bad.Epoch = "0000000000000000\0000000000000001";
        }
        var alone = await Assert.ThrowsAsync<PostgresException>(() => store.StoreBatchAsync(bad, Base, CancellationToken.None));
        Assert.NotNull(StoreErrors.Permanent(alone));
        var good = Enumerable.Range(0, 6).Select(a => TestEvents.Batch(Id(a), 1, 2 + a, startUnixMs: Base + a)).ToList();

        await using var gate = await Gate.HoldAsync(postgres, spec);
        var calls = new List<Task<StoreOutcome>>();
        foreach (var batch in good.Take(3))
        {
            calls.Add(await gate.QueueAsync(batch));
        }
        var badCall = await gate.QueueAsync(bad);
        foreach (var batch in good.Skip(3))
        {
            calls.Add(await gate.QueueAsync(batch));
        }
        await gate.ReleaseAsync();

        var inFlush = await Assert.ThrowsAsync<PostgresException>(() => badCall);
        Assert.Equal((alone.SqlState, alone.MessageText), (inFlush.SqlState, inFlush.MessageText));
        Assert.Equal(StoreErrors.Permanent(alone), StoreErrors.Permanent(inFlush));
        Assert.Equal(good.Select(b => new StoreOutcome(false, b.Events.Count)), await Task.WhenAll(calls));
        var read = await StoreSnapshot.EventsAsync(store);
        Assert.Equal(good.Sum(b => b.Events.Count) + Gate.StoredEvents, read.Count);
        Assert.DoesNotContain(read, r => r.AgentId == "bad");
        Assert.Equal(0, await StoreQuery.LongAsync(spec, "SELECT COUNT(*) FROM batches b JOIN agents a ON a.id = b.agent WHERE a.agent_id = 'bad'"));

        // The queue is free again: one more batch is written and acknowledged.
        Assert.Equal(new StoreOutcome(false, 2), await store.StoreBatchAsync(TestEvents.Batch(Id(0), 2, 2, firstSerial: 50), Base, CancellationToken.None));
    }

    [Fact]
    public async Task OneFlushOverTwoDays_RowsInBothPartitions()
    {
        var (store, spec) = await new PostgresStoreFactory(pg.Cluster).CreateAsync();
        await using var _ = store;
        var postgres = Assert.IsType<PostgresEventStore>(store);
        var dayOne = TestEvents.Batch("d1", 1, 5, startUnixMs: Base + 1000);
        var dayTwo = TestEvents.Batch("d2", 1, 7, startUnixMs: Base + DayMs + 1000);
        var across = TestEvents.Batch("d3", 1, 4, startUnixMs: Base + DayMs - 20); // two events each side of midnight

        await using var gate = await Gate.HoldAsync(postgres, spec);
        var calls = new List<Task<StoreOutcome>>();
        foreach (var batch in new[] { dayOne, dayTwo, across })
        {
            calls.Add(await gate.QueueAsync(batch));
        }
        long before = postgres.BatchTransactions;
        await gate.ReleaseAsync();

        Assert.Equal([new StoreOutcome(false, 5), new StoreOutcome(false, 7), new StoreOutcome(false, 4)], await Task.WhenAll(calls));
        Assert.Equal(before + Gate.HeldTransactions + 1, postgres.BatchTransactions);
        string first = PostgresSchema.PartitionName(PostgresSchema.Day(Base));
        string second = PostgresSchema.PartitionName(PostgresSchema.Day(Base + DayMs));
        Assert.Equal(5 + 2 + Gate.StoredEvents, await StoreQuery.LongAsync(spec, $"SELECT COUNT(*) FROM {first}"));
        Assert.Equal(7 + 2, await StoreQuery.LongAsync(spec, $"SELECT COUNT(*) FROM {second}"));
        var read = await StoreSnapshot.EventsAsync(store);
        Assert.Equal(
            new[] { dayOne, dayTwo, across }.SelectMany(b => b.Events.Select(e => Convert.ToBase64String(e.ToByteArray()))).Order(StringComparer.Ordinal),
            read.Where(r => r.AgentId != Gate.Agent).Select(r => Convert.ToBase64String(r.Event.ToByteArray())).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task OneFlushIntoAPartitionDroppedByAnotherProcess_EachWrittenAgainAlone_PartitionMadeAgain()
    {
        var (store, spec) = await new PostgresStoreFactory(pg.Cluster).CreateAsync();
        await using var _ = store;
        var postgres = Assert.IsType<PostgresEventStore>(store);
        long dayStart = Base + 2 * DayMs;
        await store.StoreBatchAsync(TestEvents.Batch("p", 1, 3, startUnixMs: dayStart), Base, CancellationToken.None);
        string partition = PostgresSchema.PartitionName(PostgresSchema.Day(dayStart));
        // What a prune of another process does, as far as this store can tell: the partition it made is gone.
        await StoreQuery.LongAsync(spec, $"DROP TABLE {partition}; SELECT 0");
        var batches = new[] { TestEvents.Batch("p", 2, 4, firstSerial: 10, startUnixMs: dayStart + 100), TestEvents.Batch("q", 1, 5, startUnixMs: dayStart + 200) };

        await using var gate = await Gate.HoldAsync(postgres, spec);
        var calls = new List<Task<StoreOutcome>>();
        foreach (var batch in batches)
        {
            calls.Add(await gate.QueueAsync(batch));
        }
        long before = postgres.BatchTransactions;
        await gate.ReleaseAsync();

        Assert.Equal([new StoreOutcome(false, 4), new StoreOutcome(false, 5)], await Task.WhenAll(calls));
        // The flush (copied into the partition by name: 42P01), then each batch alone, the first making the partition again.
        Assert.Equal(before + Gate.HeldTransactions + 1 + 2, postgres.BatchTransactions);
        Assert.Equal(4 + 5, await StoreQuery.LongAsync(spec, $"SELECT COUNT(*) FROM {partition}"));
    }

    [Fact]
    public async Task CallerCancelsOnceQueued_BatchStillWritten()
    {
        var (store, spec) = await new PostgresStoreFactory(pg.Cluster).CreateAsync();
        await using var _ = store;
        var postgres = Assert.IsType<PostgresEventStore>(store);
        var batch = TestEvents.Batch("gone", 1, 3);

        await using var gate = await Gate.HoldAsync(postgres, spec);
        using var cancel = new CancellationTokenSource();
        var call = await gate.QueueAsync(batch, cancel.Token);
        var after = await gate.QueueAsync(TestEvents.Batch("stays", 1, 2));
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
        await gate.ReleaseAsync();

        Assert.Equal(new StoreOutcome(false, 2), await after);
        // Written in the same flush, whose commit came before the other caller's answer.
        Assert.Equal(3, (await StoreSnapshot.EventsAsync(store, new EventQuery(AgentId: "gone"))).Count);
        Assert.Equal(new StoreOutcome(true, 0), await store.StoreBatchAsync(batch, Base, CancellationToken.None));
    }

    private static string Id(int n) => $"agent-{n:D3}";

    /// <summary>Holds both flushes of a store on a row lock of its own agent, so that batches queue behind them.</summary>
    private sealed class Gate : IAsyncDisposable
    {
        public const string Agent = "gate";

        /// <summary>Events the gate's own batches store (all on <see cref="TestEvents.BaseUnixMs"/>'s day).</summary>
        public const int StoredEvents = 1 + PostgresEventStore.MaxBatchFlushes;

        /// <summary>Transactions of the held batches, counted once they get past the lock.</summary>
        public const int HeldTransactions = PostgresEventStore.MaxBatchFlushes;

        private readonly PostgresEventStore _store;
        private readonly string _connectionString;
        private readonly NpgsqlConnection _lock;
        private NpgsqlTransaction? _tx;
        private readonly List<Task<StoreOutcome>> _held = [];

        private Gate(PostgresEventStore store, string connectionString, NpgsqlConnection connection)
        {
            _store = store;
            _connectionString = connectionString;
            _lock = connection;
        }

        public static async Task<Gate> HoldAsync(PostgresEventStore store, string spec)
        {
            await store.StoreBatchAsync(TestEvents.Batch(Agent, 1, 1), Base, CancellationToken.None);
            string cs = spec["postgres:".Length..];
            var connection = new NpgsqlConnection(cs);
            await connection.OpenAsync();
            var gate = new Gate(store, cs, connection);
            gate._tx = await connection.BeginTransactionAsync();
            await using (var take = new NpgsqlCommand($"SELECT id FROM agents WHERE agent_id = '{Agent}' FOR UPDATE", connection, gate._tx))
            {
                await take.ExecuteNonQueryAsync();
            }
            // One at a time, so that each is a flush of its own: both flushes then wait on the lock.
            for (int n = 1; n <= PostgresEventStore.MaxBatchFlushes; n++)
            {
                var batch = TestEvents.Batch(Agent, (ulong)n + 1, 1, firstSerial: n + 1);
                gate._held.Add(Task.Run(() => store.StoreBatchAsync(batch, Base, CancellationToken.None)));
                await gate.UntilAsync(async () => await gate.WaitingOnLocksAsync() == n, $"{n} flushes waiting on the lock");
            }
            return gate;
        }

        /// <summary>Starts storing <paramref name="batch"/>; returns once it is queued (so the order of the queue is the order of the calls).</summary>
        public async Task<Task<StoreOutcome>> QueueAsync(EventBatch batch, CancellationToken cancellationToken = default)
        {
            int queued = _store.QueuedBatches;
            var call = Task.Run(() => _store.StoreBatchAsync(batch, Base, cancellationToken), CancellationToken.None);
            await UntilAsync(() => Task.FromResult(_store.QueuedBatches == queued + 1 || call.IsCompleted), "the batch queued");
            Assert.False(call.IsCompleted, "the batch was written while the flushes were held");
            return call;
        }

        /// <summary>Lets the held flushes go: the next flush takes everything queued.</summary>
        public async Task ReleaseAsync()
        {
            if (_tx is null)
            {
                return;
            }
            await _tx.CommitAsync();
            await _tx.DisposeAsync();
            _tx = null;
            Assert.All(await Task.WhenAll(_held), o => Assert.Equal(new StoreOutcome(false, 1), o));
        }

        /// <summary>Sessions of the store's database waiting on a lock; from a connection of its own, since a transaction sees one snapshot of pg_stat_activity.</summary>
        private async Task<long> WaitingOnLocksAsync()
        {
            await using var connection = new NpgsqlConnection(_connectionString);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'", connection);
            return (long)(await command.ExecuteScalarAsync())!;
        }

        private async Task UntilAsync(Func<Task<bool>> condition, string what)
        {
            var deadline = DateTime.UtcNow + Patience;
            while (!await condition())
            {
                Assert.True(DateTime.UtcNow < deadline, $"waited {Patience.TotalSeconds} s for {what}");
                await Task.Delay(5);
            }
        }

        public async ValueTask DisposeAsync()
        {
            await ReleaseAsync();
            await _lock.DisposeAsync();
        }
    }
}
