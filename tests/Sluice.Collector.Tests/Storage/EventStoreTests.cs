using Google.Protobuf;
using System.Data.Common;
using Sluice.Collector.Storage;
using Sluice.Collector.Tests.Support;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Tests.Storage;

/// <summary>The store contract, and the summary columns the compliance queries filter on, for each store.</summary>
public abstract class EventStoreTests
{
    private protected abstract IStoreFactory Stores { get; }

    /// <summary>A plain SQL connection to the store, to check what the reports will query.</summary>
    protected abstract DbConnection Connect(string spec);

    private static async Task<long> ScalarAsync(DbConnection c, string sql)
    {
        await using var command = c.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task StoreBatchAsync_ExecAndLoginEvents_SummaryColumnsAnswerComplianceFilters()
    {
        var (store, spec) = await Stores.CreateAsync();
        await using var _ = store;
        var batch = TestEvents.Batch("host-1", 1, 20);
        batch.Events.Add(TestEvents.Login(900, TestEvents.BaseUnixMs + 5000));
        await store.StoreBatchAsync(batch, TestEvents.BaseUnixMs + 6000, CancellationToken.None);
        var events = batch.Events;
        await using var c = Connect(spec);
        await c.OpenAsync();

        Assert.Equal(events.Count(e => e.Key.ToStringUtf8() == "priv"), await ScalarAsync(c, "SELECT COUNT(*) FROM events WHERE key = 'priv'"));
        Assert.Equal(events.Count(e => e.HasAuid && e.Auid == 1001), await ScalarAsync(c, "SELECT COUNT(*) FROM events WHERE auid = 1001"));
        Assert.Equal(events.Count(e => e.HasAuid && e.Auid == 4294967295), await ScalarAsync(c, "SELECT COUNT(*) FROM events WHERE auid = 4294967295"));
        Assert.Equal(20, await ScalarAsync(c, "SELECT COUNT(*) FROM events WHERE syscall = 'execve'"));
        Assert.Equal(events.Count(e => e.Exe.ToStringUtf8() == "/usr/bin/sudo"), await ScalarAsync(c, "SELECT COUNT(*) FROM events WHERE exe = '/usr/bin/sudo'"));
        Assert.Equal(1, await ScalarAsync(c, "SELECT COUNT(*) FROM events WHERE first_type = 'USER_LOGIN'"));
        Assert.Equal(20, await ScalarAsync(c, "SELECT COUNT(*) FROM events WHERE record_types LIKE '%,EXECVE,%'"));
        Assert.Equal(events.Count(e => e.HasSuccess && !e.Success && e.Exit == -13), await ScalarAsync(c, "SELECT COUNT(*) FROM events WHERE exit = -13"));
        Assert.Equal(events.Count(e => e.Argv.Any(a => a.ToStringUtf8() == "/tmp/file 1")), await ScalarAsync(c, "SELECT COUNT(*) FROM events WHERE argv LIKE '% -l /tmp/file 1'"));
        Assert.Equal(10, await ScalarAsync(c, $"SELECT COUNT(*) FROM events e JOIN agents a ON a.id = e.agent WHERE a.hostname = 'host-1.example' AND e.time_ms >= {TestEvents.BaseUnixMs + 100} AND e.time_ms < {TestEvents.BaseUnixMs + 200}"));
        Assert.Equal(1, await ScalarAsync(c, "SELECT COUNT(*) FROM batches WHERE kernel_lost = 1 AND socket_overruns = 2 AND serial_gaps = 3 AND filtered = 5 AND event_count = 21"));
    }

    private static async Task<string?> TextAsync(DbConnection c, string sql)
    {
        await using var command = c.CreateCommand();
        command.CommandText = sql;
        return await command.ExecuteScalarAsync() is string s ? s : null;
    }

    [Fact]
    public async Task StoreBatchAsync_ProcessBytesNotUtf8OrWithNul_ColumnsShowReplacementAndPayloadRoundTrips()
    {
        var (store, spec) = await Stores.CreateAsync();
        await using var _s = store;
        var batch = TestEvents.Batch("odd", 1, 0);
        var odd = TestEvents.Exec(1, TestEvents.BaseUnixMs, 0);
        odd.Key = ByteString.CopyFrom(0x6b, 0xff, 0x31);            // "k", a byte that is not UTF-8, "1"
        odd.Exe = TestEvents.Bytes("/opt/caf\u00e9/bin");           // valid UTF-8, not ASCII
        odd.Comm = ByteString.CopyFrom(0x61, 0x00, 0x62);           // NUL inside
        odd.Argv.Clear();
        odd.Argv.Add(ByteString.Empty);
        batch.Events.Add(odd);
        var bare = TestEvents.Exec(2, TestEvents.BaseUnixMs + 1, 1);
        bare.Key = ByteString.Empty;
        bare.Node = "";
        batch.Events.Add(bare);

        await store.StoreBatchAsync(batch, TestEvents.BaseUnixMs, CancellationToken.None);

        await using var c = Connect(spec);
        await c.OpenAsync();
        Assert.Equal("k\uFFFD1", await TextAsync(c, "SELECT key FROM events WHERE serial = 1"));
        Assert.Equal("/opt/caf\u00e9/bin", await TextAsync(c, "SELECT exe FROM events WHERE serial = 1"));
        Assert.Equal("a\uFFFDb", await TextAsync(c, "SELECT comm FROM events WHERE serial = 1"));
        Assert.Equal("", await TextAsync(c, "SELECT argv FROM events WHERE serial = 1"));
        Assert.Null(await TextAsync(c, "SELECT key FROM events WHERE serial = 2"));
        Assert.Null(await TextAsync(c, "SELECT node FROM events WHERE serial = 2"));
        var read = await store.ReadEventsAsync(new EventQuery(), CancellationToken.None).ToListAsync();
        Assert.Equal(batch.Events.Select(e => e.ToByteArray()), read.Select(r => r.Event.ToByteArray()));
    }

    [Fact]
    public async Task ReadEventsAsync_BatchesOfSeveralChunksFromAgentsInterleavedInTime_EveryEventExactInTimeOrder()
    {
        var (store, spec) = await Stores.CreateAsync();
        await using var _s = store;
        const int perBatch = 2 * EventChunks.EventsPerChunk + 5;
        var stored = new List<(string Agent, long Batch, int Ordinal, Event Event)>();
        // Three agents, two batches each; their events alternate in time (1 ms apart, offset per agent).
        string[] agents = ["a", "b", "c"];
        for (int round = 0; round < 2; round++)
        {
            for (int n = 0; n < agents.Length; n++)
            {
                long start = TestEvents.BaseUnixMs + round * perBatch * 3 + n;
                var batch = TestEvents.Batch(agents[n], (ulong)round + 1, perBatch, firstSerial: round * perBatch + 1, startUnixMs: start, stepMs: 3);
                await store.StoreBatchAsync(batch, start, CancellationToken.None);
                stored.AddRange(batch.Events.Select((e, i) => (agents[n], (long)round, i, e)));
            }
        }

        var all = await store.ReadEventsAsync(new EventQuery(), CancellationToken.None).ToListAsync();
        var justB = await store.ReadEventsAsync(new EventQuery(AgentId: "b"), CancellationToken.None).ToListAsync();

        var expected = stored.OrderBy(s => s.Event.TimeUnixMs).ToList();
        Assert.Equal(expected.Select(s => (s.Agent, s.Event.ToByteArray())), all.Select(r => (r.AgentId, r.Event.ToByteArray())), new BytesPairComparer());
        Assert.Equal(expected.Where(s => s.Agent == "b").Select(s => s.Event.ToByteArray()), justB.Select(r => r.Event.ToByteArray()));
        await using var c = Connect(spec);
        await c.OpenAsync();
        // The rows hold the search columns only; the bytes are in 3 chunks per batch.
        Assert.Equal(0, await ScalarAsync(c, "SELECT COUNT(*) FROM events WHERE length(payload) > 0"));
        Assert.Equal(6 * 3, await ScalarAsync(c, "SELECT COUNT(*) FROM event_chunks"));
    }

    private sealed class BytesPairComparer : IEqualityComparer<(string, byte[])>
    {
        public bool Equals((string, byte[]) x, (string, byte[]) y) => x.Item1 == y.Item1 && x.Item2.AsSpan().SequenceEqual(y.Item2);

        public int GetHashCode((string, byte[]) obj) => obj.Item1.GetHashCode(StringComparison.Ordinal);
    }

    // Until schema 6 the second batch here (same sequence, 9 events instead of 4) was acknowledged as a duplicate
    // and dropped: issue 14, case 1. Now only the same content is a duplicate; other content is a conflict.
    [Fact]
    public async Task StoreBatchAsync_SameKeyTwice_SameContentIsDuplicateOtherContentIsConflict()
    {
        var (store, _) = await Stores.CreateAsync();
        await using var _s = store;
        var batch = TestEvents.Batch("a", 5, 4);

        var first = await store.StoreBatchAsync(batch, 1, CancellationToken.None);
        var resend = await store.StoreBatchAsync(TestEvents.Batch("a", 5, 4), 2, CancellationToken.None);
        var second = await store.StoreBatchAsync(TestEvents.Batch("a", 5, 9), 2, CancellationToken.None);
        var other = await store.StoreBatchAsync(TestEvents.Batch("b", 5, 2), 3, CancellationToken.None);
        var otherEpoch = TestEvents.Batch("a", 5, 9);
        otherEpoch.Epoch = "00000000000000000000000000000001";
        var inOtherEpoch = await store.StoreBatchAsync(otherEpoch, 4, CancellationToken.None);

        Assert.Equal(new StoreOutcome(false, 4), first);
        Assert.Equal(new StoreOutcome(true, 0), resend);
        Assert.Equal(new StoreOutcome(false, 0, BatchDigest.Of(batch)), second);
        Assert.True(second.Conflict);
        Assert.Equal(new StoreOutcome(false, 2), other);
        Assert.Equal(new StoreOutcome(false, 9), inOtherEpoch);
        var stats = await store.GetAgentStatsAsync(CancellationToken.None);
        Assert.Equal([(2L, 13L, 1L), (1L, 2L, 0L)], stats.Select(s => (s.Batches, s.Events, s.Duplicates)));
    }

    [Fact]
    public async Task StoreBatchAsync_ConcurrentDifferentContentUnderOneKey_ExactlyOneStoredOthersConflict()
    {
        var (store, spec) = await Stores.CreateAsync();
        await using var _s = store;
        const int keys = 10, contents = 3;
        var batches = (from k in Enumerable.Range(1, keys)
                       from n in Enumerable.Range(1, contents)
                       select TestEvents.Batch("a", (ulong)k, 3 + n, firstSerial: 100 * k + 10 * n)).ToList();

        var outcomes = await Task.WhenAll(batches.Select(b => Task.Run(() => store.StoreBatchAsync(b, 1, CancellationToken.None))));

        var byKey = batches.Zip(outcomes).GroupBy(p => p.First.Sequence).ToList();
        Assert.Equal(keys, byKey.Count);
        long expectedEvents = 0;
        foreach (var key in byKey)
        {
            var stored = Assert.Single(key, p => !p.Second.Conflict);
            Assert.Equal(new StoreOutcome(false, stored.First.Events.Count), stored.Second);
            expectedEvents += stored.First.Events.Count;
            Assert.All(key.Where(p => p.Second.Conflict), p => Assert.Equal(new StoreOutcome(false, 0, BatchDigest.Of(stored.First)), p.Second));
        }
        var stats = (await store.GetAgentStatsAsync(CancellationToken.None)).Single();
        Assert.Equal((10L, expectedEvents, 0L), (stats.Batches, stats.Events, stats.Duplicates));
        Assert.Equal(expectedEvents, (await StoreSnapshot.EventsAsync(store)).Count);
        await using var c = Connect(spec);
        await c.OpenAsync();
        Assert.Equal(10, await ScalarAsync(c, "SELECT COUNT(DISTINCT digest) FROM batches WHERE length(digest) = 32"));
    }

    [Fact]
    public async Task StoreHeartbeatAsync_Heartbeats_OneRowEachWithKernelStatusAndLoss()
    {
        var (store, spec) = await Stores.CreateAsync();
        await using var _s = store;
        for (int i = 0; i < 3; i++)
        {
            await store.StoreHeartbeatAsync(new AgentHeartbeat
            {
                AgentId = "hb", Hostname = "hb.example", BootId = "b", Version = "1", Mode = "unicast",
                TimeUnixMs = TestEvents.BaseUnixMs + i * 30_000, StartedUnixMs = TestEvents.BaseUnixMs,
                Kernel = i == 2 ? null : new KernelSettings { Enabled = 1, Lost = (uint)i },
                LossTotals = new LossCounters { KernelLost = (ulong)i * 10 }, SpoolDepthBatches = (ulong)i,
            }, TestEvents.BaseUnixMs + i * 30_000 + 5, CancellationToken.None);
        }
        await using var c = Connect(spec);
        await c.OpenAsync();

        Assert.Equal(3, await ScalarAsync(c, "SELECT COUNT(*) FROM heartbeats"));
        Assert.Equal(30, await ScalarAsync(c, "SELECT SUM(kernel_lost) FROM heartbeats"));
        Assert.Equal(1, await ScalarAsync(c, "SELECT COUNT(*) FROM heartbeats WHERE status_lost = 1 AND status_enabled = 1"));
        Assert.Equal(1, await ScalarAsync(c, "SELECT COUNT(*) FROM heartbeats WHERE status_enabled IS NULL"));
        var stats = (await store.GetAgentStatsAsync(CancellationToken.None)).Single();
        Assert.Equal(TestEvents.BaseUnixMs + 60_000, stats.LastHeartbeatUnixMs);
        Assert.Equal(TestEvents.BaseUnixMs + 60_005, stats.LastSeenUnixMs);
    }

    [Fact]
    public async Task InitializeAsync_Reopened_KeepsWhatWasStored()
    {
        var (store, spec) = await Stores.CreateAsync();
        await store.StoreBatchAsync(TestEvents.Batch("a", 1, 7), 1, CancellationToken.None);
        await store.DisposeAsync();

        await using var reopened = await StoreLocation.Parse(spec).OpenAsync(mustExist: true, CancellationToken.None);

        Assert.Equal(7, (await reopened.GetAgentStatsAsync(CancellationToken.None)).Single().Events);
        Assert.True((await reopened.StoreBatchAsync(TestEvents.Batch("a", 1, 7), 2, CancellationToken.None)).Duplicate);
    }

    /// <summary>Takes a new store back to schema 8: without the process-context columns of 9 and their indexes.</summary>
    internal const string SchemaEightSql =
        "DROP INDEX events_parent_exe_time; DROP INDEX events_container_time; DROP INDEX events_unit_time; "
        + "ALTER TABLE events DROP COLUMN context; ALTER TABLE events DROP COLUMN parent_exe; ALTER TABLE events DROP COLUMN parent_pid; "
        + "ALTER TABLE events DROP COLUMN container_id; ALTER TABLE events DROP COLUMN container_runtime; ALTER TABLE events DROP COLUMN unit; "
        + "ALTER TABLE events DROP COLUMN parent_chain; ";

    /// <summary>Takes a new store back to schema 7: without the retention tables of 8 (nor what 9 added).</summary>
    internal const string SchemaSevenSql = SchemaEightSql + "DROP TABLE prunes; DROP TABLE pruned_batches; DROP TABLE pruned_epochs;";

    /// <summary>Takes a new store back to schema 6: the columns schema 7 added to agents and heartbeats (its new tables may stay: they are made if missing).</summary>
    private static string SchemaSixSql() =>
        SchemaSevenSql + string.Concat(StoreSchema.AgentPolicyColumns.Select(c => $"ALTER TABLE agents DROP COLUMN {c.Name}; "))
        + string.Concat(HeartbeatColumns.AddedInVersion7.Select(n => $"ALTER TABLE heartbeats DROP COLUMN {n}; "));

    /// <summary>Takes a new store back to schema 5: what schemas 6 and 7 added to batches, events, heartbeats and agents, and the refusals table.</summary>
    private string SchemaFiveSql() => SchemaSixSql() + SchemaFiveFromSixSql();

    private string SchemaFiveFromSixSql()
    {
        string[] oldLoss = [.. LossColumns.Names.Except(LossColumns.AddedInVersion6)];
        string[] batchAdded = ["epoch", "epoch_start_sequence", "digest", "time_adjusted_events", .. LossColumns.AddedInVersion6];
        string[] heartbeatAdded = ["epoch", .. LossColumns.AddedInVersion6];
        if (Stores.Kind == StoreKind.Postgres)
        {
            return $"""
                ALTER TABLE batches DROP CONSTRAINT batches_agent_epoch_sequence_key;
                ALTER TABLE batches {string.Join(", ", batchAdded.Select(n => "DROP COLUMN " + n))};
                ALTER TABLE batches ADD CONSTRAINT batches_agent_sequence_key UNIQUE (agent, sequence);
                ALTER TABLE events DROP COLUMN time_adjusted;
                ALTER TABLE heartbeats {string.Join(", ", heartbeatAdded.Select(n => "DROP COLUMN " + n))};
                ALTER TABLE agents DROP COLUMN refusals_unrecorded;
                DROP TABLE refusals;
                """;
        }
        // SQLite drops no column of a UNIQUE constraint: batches is built again as schema 5 had it.
        string[] kept = ["id", "agent", "sequence", "hostname", "boot_id", "created_ms", "interval_start_ms", "interval_end_ms", "received_ms", "event_count", "rules_hash", .. oldLoss];
        return $"""
            CREATE TABLE batches_v5 (
                id INTEGER PRIMARY KEY, agent INTEGER NOT NULL REFERENCES agents(id), sequence INTEGER NOT NULL,
                hostname TEXT NOT NULL, boot_id TEXT NOT NULL, created_ms INTEGER NOT NULL, interval_start_ms INTEGER NOT NULL,
                interval_end_ms INTEGER NOT NULL, received_ms INTEGER NOT NULL, event_count INTEGER NOT NULL, rules_hash TEXT NOT NULL,
                {string.Join(", ", oldLoss.Select(n => n + " INTEGER NOT NULL"))},
                UNIQUE (agent, sequence)
            );
            INSERT INTO batches_v5 ({string.Join(", ", kept)}) SELECT {string.Join(", ", kept)} FROM batches;
            DROP TABLE batches;
            ALTER TABLE batches_v5 RENAME TO batches;
            CREATE INDEX batches_agent_interval ON batches (agent, interval_start_ms);
            CREATE INDEX batches_interval ON batches (interval_start_ms);
            ALTER TABLE events DROP COLUMN time_adjusted;
            {string.Join(" ", heartbeatAdded.Select(n => $"ALTER TABLE heartbeats DROP COLUMN {n};"))}
            ALTER TABLE agents DROP COLUMN refusals_unrecorded;
            DROP TABLE refusals;
            """;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    public async Task InitializeAsync_StoreOfOlderSchemaVersion_UpgradedInPlaceKeepingItsData(int version)
    {
        var (store, spec) = await Stores.CreateAsync();
        var old = TestEvents.Batch("a", 1, 3);
        await store.StoreBatchAsync(old, 1, CancellationToken.None);
        await store.DisposeAsync();
        await using (var c = Connect(spec))
        {
            await c.OpenAsync();
            // What an older collector left: batches keyed on (agent, sequence) without epoch or digest, none of
            // the other columns and tables of 6 (see SchemaFiveSql); each event's bytes in its row and no
            // event_chunks (5), no paths column (added in 3), a record-type index over every event (partial since 4).
            await ScalarAsync(c, (version switch { 8 => SchemaEightSql, 7 => SchemaSevenSql, 6 => SchemaSixSql(), _ => SchemaFiveSql() }) + " SELECT 0");
            for (int i = 0; i < (version < 5 ? old.Events.Count : 0); i++)
            {
                await using var command = c.CreateCommand();
                command.CommandText = "UPDATE events SET payload = @payload WHERE ordinal = @ordinal";
                var payload = command.CreateParameter();
                payload.ParameterName = "payload";
                payload.Value = old.Events[i].ToByteArray();
                command.Parameters.Add(payload);
                var ordinal = command.CreateParameter();
                ordinal.ParameterName = "ordinal";
                ordinal.Value = (long)i;
                command.Parameters.Add(ordinal);
                Assert.Equal(1, await command.ExecuteNonQueryAsync());
            }
            string paths = version < 3 ? "ALTER TABLE events DROP COLUMN paths;" : "";
            string typeIndex = version < 4 ? "DROP INDEX events_type_time; CREATE INDEX events_type_time ON events (first_type, time_ms);" : "";
            string chunks = version < 5 ? "DROP TABLE event_chunks;" : "";
            await ScalarAsync(c, $"UPDATE schema_info SET version = {version}; {paths} {chunks} {typeIndex} SELECT 0");
        }

        await using var reopened = await StoreLocation.Parse(spec).OpenAsync(mustExist: true, CancellationToken.None);

        Assert.Equal(version, ((Sluice.Collector.Storage.Retention.IRetentionStore)reopened).UpgradedFrom);
        await using (var c = Connect(spec))
        {
            await c.OpenAsync();
            Assert.Equal(StoreSchema.Version, await ScalarAsync(c, "SELECT version FROM schema_info"));
            Assert.Equal(0, await ScalarAsync(c, "SELECT COUNT(*) FROM prunes"));
        }
        Assert.Equal(3, (await reopened.GetAgentStatsAsync(CancellationToken.None)).Single().Events);
        // The upgraded store takes new events, paths and process contexts included.
        var added = TestEvents.Batch("a", 2, 2);
        added.Events[1].Context = Contexts.Ssh();
        Assert.False((await reopened.StoreBatchAsync(added, 2, CancellationToken.None)).Duplicate);
        Assert.Equal(5, (await reopened.GetAgentStatsAsync(CancellationToken.None)).Single().Events);
        // Events from before (bytes in their rows) and after (bytes in chunks) read back exact.
        var read = new List<Event>();
        await foreach (var e in reopened.ReadEventsAsync(new EventQuery(), CancellationToken.None))
        {
            read.Add(e.Event);
        }
        Assert.Equal(old.Events.Concat(added.Events).OrderBy(e => e.TimeUnixMs).ThenBy(e => e.Serial), read.OrderBy(e => e.TimeUnixMs).ThenBy(e => e.Serial));
        Assert.Equal(4, read.Count(e => e.Context is null));
        // Keys of 6: a batch of before has no digest and is taken as the same content, as it was then; a new
        // epoch starts its sequences again; heartbeats keep their epoch and refusals are recorded.
        Assert.Equal(new StoreOutcome(true, 0), await reopened.StoreBatchAsync(TestEvents.Batch("a", 1, 3), 3, CancellationToken.None));
        var newEpoch = TestEvents.Batch("a", 1, 4, firstSerial: 50);
        newEpoch.Epoch = "0123456789abcdef0123456789abcdef";
        Assert.Equal(new StoreOutcome(false, 4), await reopened.StoreBatchAsync(newEpoch, 4, CancellationToken.None));
        Assert.Equal(new StoreOutcome(true, 0), await reopened.StoreBatchAsync(newEpoch, 5, CancellationToken.None));
        await reopened.StoreHeartbeatAsync(new AgentHeartbeat
        {
            AgentId = "a", Hostname = "a.example", BootId = "b", Version = "1", Mode = "unicast", TimeUnixMs = 6, Epoch = newEpoch.Epoch,
        }, 6, CancellationToken.None);
        await reopened.RecordRefusalAsync(new BatchRefusal("a", "a.example", "b", newEpoch.Epoch, 2, "InvalidArgument", "test", 7, "", 7), CancellationToken.None);
        var stats = (await reopened.GetAgentStatsAsync(CancellationToken.None)).Single();
        Assert.Equal((3L, 9L, 2L), (stats.Batches, stats.Events, stats.Duplicates));
        // The record-type index is the partial one again.
        await using (var c = Connect(spec))
        {
            await c.OpenAsync();
            Assert.Equal(1, await ScalarAsync(c, $"SELECT COUNT(*) FROM heartbeats WHERE epoch = '{newEpoch.Epoch}'"));
            Assert.Equal(1, await ScalarAsync(c, $"SELECT COUNT(*) FROM refusals WHERE epoch = '{newEpoch.Epoch}' AND sequence = 2 AND event_count = 7"));
            // A batch of before 6 has no digest; one of 6 has its own.
            Assert.Equal(version < 6 ? 1 : 0, await ScalarAsync(c, "SELECT COUNT(*) FROM batches WHERE sequence = 1 AND epoch = '' AND digest = ''"));
            Assert.Equal(version < 6 ? 2 : 3, await ScalarAsync(c, "SELECT COUNT(*) FROM batches WHERE length(digest) = 32"));
            // Columns of 7: the agent's group (default until a heartbeat names one) and its policy state.
            Assert.Equal(1, await ScalarAsync(c, "SELECT COUNT(*) FROM agents WHERE group_name = 'default' AND policy_hash = '' AND policy_refusal = ''"));
            Assert.Equal(1, await ScalarAsync(c, "SELECT COUNT(*) FROM heartbeats WHERE group_name = 'default' AND policy_refused_hash = ''"));
            // Columns of 9: events stored before have no context; the new one has it, and its indexes are there.
            Assert.Equal(8, await ScalarAsync(c, "SELECT COUNT(*) FROM events WHERE context IS NULL AND parent_exe IS NULL AND unit IS NULL AND parent_chain IS NULL"));
            Assert.Equal(1, await ScalarAsync(c, $"SELECT COUNT(*) FROM events WHERE parent_exe = '/usr/bin/bash' AND parent_pid = 2100 AND container_id = '{Contexts.DockerId}' AND container_runtime = 'docker' AND unit = 'ssh.service' AND context IS NOT NULL"));
            await using var indexes = c.CreateCommand();
            indexes.CommandText = Stores.Kind == StoreKind.Postgres
                ? "SELECT COUNT(*) FROM pg_indexes WHERE tablename = 'events' AND indexname IN ('events_parent_exe_time', 'events_container_time', 'events_unit_time')"
                : "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('events_parent_exe_time', 'events_container_time', 'events_unit_time')";
            Assert.Equal(3L, Convert.ToInt64(await indexes.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture));
            await using var command = c.CreateCommand();
            command.CommandText = Stores.Kind == StoreKind.Postgres
                ? "SELECT indexdef FROM pg_indexes WHERE indexname = 'events_type_time'"
                : "SELECT sql FROM sqlite_master WHERE name = 'events_type_time'";
            string definition = (string)(await command.ExecuteScalarAsync())!;
            Assert.Contains($"<> '{StoreSchema.UnindexedFirstType}'", definition);
        }
    }

    [Fact]
    public async Task InitializeAsync_StoreOfNewerSchemaVersion_RefusedNamingBothVersions_StoreUntouched()
    {
        var (store, spec) = await Stores.CreateAsync();
        await store.StoreBatchAsync(TestEvents.Batch("a", 1, 3), 1, CancellationToken.None);
        await store.DisposeAsync();
        await using (var c = Connect(spec))
        {
            await c.OpenAsync();
            await ScalarAsync(c, $"UPDATE schema_info SET version = {StoreSchema.Version + 1}; SELECT 0");
        }

        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => StoreLocation.Parse(spec).OpenAsync(mustExist: true, CancellationToken.None));

        Assert.Contains($"schema version {StoreSchema.Version + 1}, newer than this collector's {StoreSchema.Version}", refused.Message);
        await using (var c = Connect(spec))
        {
            await c.OpenAsync();
            Assert.Equal(StoreSchema.Version + 1, await ScalarAsync(c, "SELECT version FROM schema_info"));
            Assert.Equal(3, await ScalarAsync(c, "SELECT COUNT(*) FROM events"));
        }
    }

    [Fact]
    public void VersionMismatch_StoreWithoutUpgradePath_NamesVersionsAndExport()
    {
        string message = StoreSchema.VersionMismatch("store x", Stores.Kind, 0);

        Assert.False(StoreSchema.CanUpgrade(0));
        Assert.Contains($"schema version 0, older than this collector's {StoreSchema.Version}", message);
        Assert.Contains("sluice-collector export", message);
    }
}

public sealed class SqliteEventStoreTests : EventStoreTests, IDisposable
{
    private readonly SqliteStoreFactory _stores = new();
    private protected override IStoreFactory Stores => _stores;
    protected override DbConnection Connect(string spec) => new Microsoft.Data.Sqlite.SqliteConnection("Data Source=" + spec["sqlite:".Length..]);
    public void Dispose() => _stores.Dispose();

    [Fact]
    public async Task StoreBatchAsync_ManyConcurrentCallers_AllStoredWithDistinctSequences()
    {
        var (store, _) = await _stores.CreateAsync();
        await using var _s = store;

        var outcomes = await Task.WhenAll(Enumerable.Range(1, 200).Select(i =>
            Task.Run(() => store.StoreBatchAsync(TestEvents.Batch("a", (ulong)(i % 100) + 1, 5), i, CancellationToken.None))));

        Assert.Equal(100, outcomes.Count(o => !o.Duplicate));
        Assert.Equal(100, outcomes.Count(o => o.Duplicate));
        var stats = (await store.GetAgentStatsAsync(CancellationToken.None)).Single();
        Assert.Equal((100L, 500L, 100L), (stats.Batches, stats.Events, stats.Duplicates));
    }
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresEventStoreTests(PostgresFixture pg) : EventStoreTests
{
    private protected override IStoreFactory Stores { get; } = new PostgresStoreFactory(pg.Cluster);
    protected override DbConnection Connect(string spec) => new Npgsql.NpgsqlConnection(spec["postgres:".Length..]);

    [Fact]
    public async Task StoreBatchAsync_EventsOverThreeDays_OnePartitionPerDayCreatedOnDemand()
    {
        var (store, spec) = await Stores.CreateAsync();
        await using var _s = store;
        const long day = 86_400_000;
        // 2025-11-24 23:59:59.990 .. 2025-11-26 00:00:00.010, in two concurrent batches.
        var b1 = TestEvents.Batch("a", 1, 3, startUnixMs: TestEvents.BaseUnixMs - 10, stepMs: 10);
        var b2 = TestEvents.Batch("a", 2, 3, firstSerial: 10, startUnixMs: TestEvents.BaseUnixMs + day - 10, stepMs: 10);

        await Task.WhenAll(store.StoreBatchAsync(b1, 1, CancellationToken.None), store.StoreBatchAsync(b2, 1, CancellationToken.None));

        await using var c = Connect(spec);
        await c.OpenAsync();
        await using var command = c.CreateCommand();
        command.CommandText = """
            SELECT child.relname, (SELECT COUNT(*) FROM events e WHERE e.tableoid = child.oid)
            FROM pg_inherits JOIN pg_class parent ON parent.oid = inhparent JOIN pg_class child ON child.oid = inhrelid
            WHERE parent.relname = 'events' ORDER BY child.relname
            """;
        var partitions = new List<(string, long)>();
        await using (var r = await command.ExecuteReaderAsync())
        {
            while (await r.ReadAsync())
            {
                partitions.Add((r.GetString(0), r.GetInt64(1)));
            }
        }
        Assert.Equal([("events_p20251124", 1L), ("events_p20251125", 3L), ("events_p20251126", 2L)], partitions);
    }
}
