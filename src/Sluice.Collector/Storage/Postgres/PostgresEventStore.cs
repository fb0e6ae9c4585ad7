using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Google.Protobuf;
using Npgsql;
using NpgsqlTypes;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Storage.Postgres;

/// <summary>The fleet store: PostgreSQL, events written with binary COPY into day partitions.</summary>
/// <remarks>
/// Batches that arrive together are written in one transaction (<c>PostgresEventStore.Batches.cs</c>); a batch
/// alone is written in a transaction of its own (<see cref="StoreAloneAsync"/>). Either way the batch row goes in
/// first with ON CONFLICT DO NOTHING on (agent, epoch, sequence): a concurrent send of the same key waits on the
/// unique index until the first commits, then sees the conflict, and compares digests: a resend is
/// counted as a duplicate, other content is a conflict and nothing of it is stored.
/// </remarks>
internal sealed partial class PostgresEventStore : IEventStore
{
    private static string CopyInto(string table) => $"COPY {table} ({string.Join(", ", EventColumns.Names)}) FROM STDIN (FORMAT BINARY)";

    private static readonly string CopyEvents = CopyInto("events");

    private const string CopyChunks = "COPY event_chunks (batch_id, chunk, data) FROM STDIN (FORMAT BINARY)";

    private static readonly SqlStatement InsertBatch = WriteSql.InsertBatch(Dialect);
    private static readonly SqlStatement StoredDigest = WriteSql.StoredDigest(Dialect);
    private static readonly SqlStatement CountDuplicate = WriteSql.CountDuplicate(Dialect);
    private static readonly SqlStatement UpsertAgent = WriteSql.UpsertAgent(Dialect);
    private static readonly SqlStatement HeartbeatAgent = WriteSql.HeartbeatAgent(Dialect);
    private static readonly SqlStatement InsertHeartbeat = WriteSql.InsertHeartbeat(Dialect);
    private static readonly SqlStatement UpsertRules = AgentRulesSql.Upsert(Dialect);

    /// <summary>What this store's SQL says its own way.</summary>
    internal static SqlDialect Dialect => SqlDialect.Postgres;

    private readonly NpgsqlDataSource _dataSource;
    private readonly ConcurrentDictionary<long, bool> _partitions = new();
    private readonly EventTimeBounds? _timeBounds;

    /// <param name="timeBounds">Event times indexed as they are (<c>serve</c> sets them); null indexes every event under
    /// its own time, and so creates a partition for every day a batch names.</param>
    public PostgresEventStore(string connectionString, EventTimeBounds? timeBounds = null)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        timeBounds?.Validate();
        _dataSource = builder.Build();
        _timeBounds = timeBounds;
    }

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        // Serialise concurrent first starts of several collectors on one database.
        await ExecAsync(connection, "SELECT pg_advisory_xact_lock(7361636501)", cancellationToken);
        await ExecAsync(connection, StoreSchema.Ddl(Dialect), cancellationToken);
        string name = $"PostgreSQL store {connection.Database} on {connection.Host}:{connection.Port}";
        await using (var check = new NpgsqlCommand("SELECT version FROM schema_info", connection))
        {
            var version = await check.ExecuteScalarAsync(cancellationToken);
            long found = version is null ? StoreSchema.Version : Convert.ToInt64(version, System.Globalization.CultureInfo.InvariantCulture);
            if (version is null)
            {
                await ExecAsync(connection, $"INSERT INTO schema_info VALUES ({StoreSchema.Version})", cancellationToken);
            }
            else if (StoreSchema.CanUpgrade(found))
            {
                // Under the lock: a collector that waited on it finds the version this one wrote, and does nothing.
                // The schema again after the upgrade: it makes what the upgrade dropped or rebuilt.
                await ExecAsync(connection, StoreSchema.Upgrade(StoreKind.Postgres, found), cancellationToken);
                await ExecAsync(connection, StoreSchema.Ddl(Dialect), cancellationToken);
                UpgradedFrom = found;
            }
            else if (found != StoreSchema.Version)
            {
                throw new InvalidOperationException(StoreSchema.VersionMismatch(name, StoreKind.Postgres, found));
            }
        }
        await ExecAsync(connection, StoreSchema.DeliveryIndexes + StoreSchema.ContextIndexes, cancellationToken);
        await tx.CommitAsync(cancellationToken);
        Name = name;
    }

    /// <summary>The schema version this store had before <see cref="InitializeAsync"/> upgraded it, or null.</summary>
    public long? UpgradedFrom { get; private set; }

    /// <summary>For messages: the database and server.</summary>
    public string Name { get; private set; } = "PostgreSQL store";

    // StoreBatchAsync(batch, received, ct): PostgresEventStore.Batches.cs (written together).

    /// <summary>
    /// One batch in a transaction of its own: a flush of one, a batch whose key a flush found taken, and each batch of a
    /// flush that failed.
    /// </summary>
    private async Task<StoreOutcome> StoreAloneAsync(EncodedRows rows, long receivedUnixMs, CancellationToken cancellationToken)
    {
        try
        {
            return await StoreOnceAsync(rows, rows.Times, receivedUnixMs, cancellationToken);
        }
        catch (PostgresException e) when (StoreErrors.IsMissingPartition(e))
        {
            // A prune (of this or another collector process) dropped a day partition this process had made or seen:
            // the transaction rolled back whole. Forget the batch's days, so that they are made again, and retry once.
            ForgetDays(rows);
            return await StoreOnceAsync(rows, rows.Times, receivedUnixMs, cancellationToken);
        }
    }

    /// <summary>Forgets the day partitions of <paramref name="rows"/>' events, so that they are made again if need be.</summary>
    private void ForgetDays(EncodedRows rows)
    {
        var events = rows.Batch.Events;
        for (int i = 0; i < events.Count; i++)
        {
            _partitions.TryRemove(PostgresSchema.Day(rows.Times.TimeMs(i, events[i])), out _);
        }
    }

    private async Task<StoreOutcome> StoreOnceAsync(EncodedRows rows, IndexTimes times, long receivedUnixMs, CancellationToken cancellationToken)
    {
        var batch = rows.Batch;
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await EnsurePartitionsAsync(connection, batch, times, cancellationToken);

        // The agent row is updated in its own short statement: holding its lock for the whole
        // COPY would serialise an agent's in-flight batches.
        long agent;
        await using (var upsert = Command(UpsertAgent, connection, null, batch.AgentId, batch.Hostname, batch.BootId, receivedUnixMs, batch.RulesHash))
        {
            agent = (long)(await upsert.ExecuteScalarAsync(cancellationToken))!;
        }

        Interlocked.Increment(ref _batchTransactions);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        object? batchId;
        await using (var insert = new NpgsqlCommand(InsertBatch.Text, connection, tx))
        {
            AddParameters(insert, BatchColumns.Table, new BatchRow(batch, agent, receivedUnixMs, rows.Digest, times.Adjusted));
            batchId = await insert.ExecuteScalarAsync(cancellationToken);
        }
        if (batchId is null)
        {
            // The key is taken by a committed row (ON CONFLICT waited for a concurrent insert to commit). This
            // statement's own snapshot is taken after that commit, so it sees the row.
            string stored;
            await using (var existing = Command(StoredDigest, connection, tx, agent, batch.Epoch, (long)batch.Sequence))
            {
                stored = (string)(await existing.ExecuteScalarAsync(cancellationToken))!;
            }
            if (!BatchKey.SameContent(stored, rows.Digest))
            {
                await tx.RollbackAsync(cancellationToken);
                return new StoreOutcome(Duplicate: false, EventsStored: 0, ConflictingDigest: stored);
            }
            await using var dup = Command(CountDuplicate, connection, tx, agent);
            await dup.ExecuteNonQueryAsync(cancellationToken);
            await tx.CommitAsync(cancellationToken);
            return new StoreOutcome(Duplicate: true, EventsStored: 0);
        }

        if (batch.Events.Count > 0)
        {
            await CopyEventsAsync(connection, rows, (long)batchId, agent, times, cancellationToken);
        }
        await tx.CommitAsync(cancellationToken);
        return new StoreOutcome(Duplicate: false, EventsStored: batch.Events.Count);
    }

    private static async Task CopyEventsAsync(NpgsqlConnection connection, EncodedRows rows, long batchId, long agent, IndexTimes times, CancellationToken ct)
    {
        var batch = rows.Batch;
        // A batch within one day (the usual case) goes straight into that day's partition, which
        // spares PostgreSQL routing each row through the partitioned parent.
        string sql = SingleDay(batch, times) is long day ? CopyInto(PostgresSchema.PartitionName(day)) : CopyEvents;
        using (var events = BinaryCopy.Events(rows, batchId, agent))
        {
            await CopyAsync(connection, sql, events, ct);
        }
        using var chunks = BinaryCopy.Chunks(rows.Chunks, batchId);
        await CopyAsync(connection, CopyChunks, chunks, ct);
    }

    private static async Task CopyAsync(NpgsqlConnection connection, string sql, BinaryCopy rows, CancellationToken ct)
    {
        await using var copy = await connection.BeginRawBinaryCopyAsync(sql, ct);
        await copy.WriteAsync(rows.Bytes, ct);
    }

    private static long? SingleDay(EventBatch batch, IndexTimes times)
    {
        long day = PostgresSchema.Day(times.TimeMs(0, batch.Events[0]));
        for (int i = 1; i < batch.Events.Count; i++)
        {
            if (PostgresSchema.Day(times.TimeMs(i, batch.Events[i])) != day)
            {
                return null;
            }
        }
        return day;
    }

    /// <summary>
    /// Creates the day partitions this batch needs, each once, before its transaction starts: those of the times
    /// its events are indexed under, so at most <see cref="EventTimeBounds.MaxDaysPerBatch"/> with bounds.
    /// </summary>
    private async Task EnsurePartitionsAsync(NpgsqlConnection connection, EventBatch batch, IndexTimes times, CancellationToken ct)
    {
        long lastDay = long.MinValue;
        for (int i = 0; i < batch.Events.Count; i++)
        {
            long day = PostgresSchema.Day(times.TimeMs(i, batch.Events[i]));
            if (day == lastDay || _partitions.ContainsKey(day))
            {
                lastDay = day;
                continue;
            }
            lastDay = day;
            await using (var tx = await connection.BeginTransactionAsync(ct))
            {
                // Another collector process, or another call here, may be creating the same partition.
                await ExecAsync(connection, $"SELECT pg_advisory_xact_lock({7_361_636_500_000L + day})", ct);
                await ExecAsync(connection,
                    $"CREATE TABLE IF NOT EXISTS {PostgresSchema.PartitionName(day)} PARTITION OF events " +
                    $"FOR VALUES FROM ({day * PostgresSchema.DayMs}) TO ({(day + 1) * PostgresSchema.DayMs})", ct);
                await tx.CommitAsync(ct);
            }
            _partitions[day] = true;
        }
    }

    public Task StoreHeartbeatAsync(AgentHeartbeat heartbeat, long receivedUnixMs, CancellationToken cancellationToken) =>
        StoreHeartbeatAsync(heartbeat, receivedUnixMs, Auth.AgentTokens.DefaultGroup, cancellationToken);

    // StoreHeartbeatAsync(heartbeat, received, group, ct): PostgresEventStore.Heartbeats.cs (written together).

    public async Task RecordRefusalAsync(BatchRefusal refusal, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        long agent;
        await using (var upsert = new NpgsqlCommand(RefusalSql.AgentRow, connection))
        {
            upsert.Parameters.AddWithValue("agent_id", refusal.AgentId);
            upsert.Parameters.AddWithValue("hostname", refusal.Hostname);
            upsert.Parameters.AddWithValue("boot_id", refusal.BootId);
            upsert.Parameters.AddWithValue("now", refusal.ReceivedUnixMs);
            agent = (long)(await upsert.ExecuteScalarAsync(cancellationToken))!;
        }
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        // One writer of an agent's refusals at a time, so that the per-agent cap holds.
        await using (var lockAgent = new NpgsqlCommand("SELECT id FROM agents WHERE id = $1 FOR UPDATE", connection, tx))
        {
            lockAgent.Parameters.Add(new() { Value = agent });
            await lockAgent.ExecuteNonQueryAsync(cancellationToken);
        }
        int written;
        await using (var insert = new NpgsqlCommand(RefusalSql.Upsert, connection, tx))
        {
            foreach (var (name, value) in RefusalSql.Parameters(agent, refusal))
            {
                insert.Parameters.AddWithValue(name, value);
            }
            written = await insert.ExecuteNonQueryAsync(cancellationToken);
        }
        if (written == 0)
        {
            await using var count = new NpgsqlCommand(RefusalSql.CountUnrecorded, connection, tx);
            count.Parameters.AddWithValue("agent", agent);
            await count.ExecuteNonQueryAsync(cancellationToken);
        }
        await tx.CommitAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<DeliveryFacts>> GetDeliveryFactsAsync(DeliveryQuery query, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        // One snapshot for all of the queries.
        await using var tx = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken);
        return await DeliverySql.ReadAsync(connection, tx, query, cancellationToken);
    }

    public async Task<IReadOnlyList<AgentStats>> GetAgentStatsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        return await StoreSql.ReadAgentStatsAsync(command, cancellationToken);
    }

    public async IAsyncEnumerable<StoredEvent> ReadEventsAsync(EventQuery query, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        StoreSql.PrepareEventQuery(command, query, Dialect);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await using var payloads = new EventPayloadReader(async ct => await _dataSource.OpenConnectionAsync(ct));
        await foreach (var e in StoreSql.ReadEventsAsync(reader, payloads, cancellationToken, query.Context))
        {
            yield return e;
        }
    }

    /// <summary><paramref name="statement"/> with <paramref name="values"/>, in the order of its parameters.</summary>
    private static NpgsqlCommand Command(SqlStatement statement, NpgsqlConnection connection, NpgsqlTransaction? tx, params object[] values)
    {
        if (values.Length != statement.Parameters.Length)
        {
            throw new ArgumentException($"{values.Length} values for the parameters {string.Join(", ", statement.Parameters)}", nameof(values));
        }
        var command = new NpgsqlCommand(statement.Text, connection, tx);
        foreach (var value in values)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }
        return command;
    }

    /// <summary>The row's values as positional parameters, in table order; a NULL is typed as its column.</summary>
    private static void AddParameters<TRow>(NpgsqlCommand command, ColumnTable<TRow> table, TRow row) =>
        AddParameters(command.Parameters, table, row);

    /// <inheritdoc cref="AddParameters{TRow}(NpgsqlCommand, ColumnTable{TRow}, TRow)"/>
    private static void AddParameters<TRow>(NpgsqlParameterCollection parameters, ColumnTable<TRow> table, TRow row)
    {
        var columns = table.Columns;
        var values = table.Values(row);
        for (int i = 0; i < values.Length; i++)
        {
            parameters.Add(values[i] is { } value
                ? new NpgsqlParameter { Value = value }
                : new NpgsqlParameter { Value = DBNull.Value, NpgsqlDbType = NpgsqlType(columns[i].Type) });
        }
    }

    private static NpgsqlDbType NpgsqlType(SqlType type) => type switch
    {
        SqlType.Int => NpgsqlDbType.Bigint,
        SqlType.Text => NpgsqlDbType.Text,
        SqlType.Bool => NpgsqlDbType.Boolean,
        SqlType.Blob => NpgsqlDbType.Bytea,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    private static async Task ExecAsync(NpgsqlConnection connection, string sql, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(ct);
    }

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();
}
