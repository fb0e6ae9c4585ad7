using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Google.Protobuf;
using Microsoft.Data.Sqlite;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Storage.Sqlite;

/// <summary>The embedded store: one SQLite file in WAL mode.</summary>
/// <remarks>
/// SQLite has one writer at a time, so every write goes through one bounded queue to one
/// writer task. The writer takes whatever is queued (up to <see cref="SqliteStoreOptions.MaxGroupEvents"/>)
/// and commits it in one transaction: under load many batches share one commit and one WAL sync;
/// when idle a batch commits alone at once. Callers are completed only after the commit.
/// If a group fails, each of its writes is retried in its own transaction, so one failing batch
/// cannot take others down with it. Readers use their own connections (WAL lets them run beside the writer).
/// </remarks>
internal sealed partial class SqliteEventStore : IEventStore
{
    private readonly string _connectionString;
    private readonly SqliteStoreOptions _options;
    // FullMode.Wait: a full queue holds back the gRPC calls (the agent keeps the batch in its
    // spool and its call waits or times out) rather than dropping accepted data.
    private readonly Channel<WriteRequest> _queue;
    private Task? _writer;
    private SqliteConnection? _writeConnection;
    private WalCheckpointer? _checkpointer;

    public SqliteEventStore(string path, SqliteStoreOptions? options = null)
    {
        _options = options ?? new SqliteStoreOptions();
        _options.TimeBounds?.Validate();
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
        }.ToString();
        _queue = Channel.CreateBounded<WriteRequest>(new BoundedChannelOptions(_options.QueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        });
        Path = path;
    }

    public string Path { get; }

    /// <summary>The schema version this store had before <see cref="InitializeAsync"/> upgraded it, or null.</summary>
    public long? UpgradedFrom { get; private set; }

    /// <summary>What this store's SQL says its own way.</summary>
    internal static SqlDialect Dialect => SqlDialect.Sqlite;

    /// <summary>Checkpoints done beside the writer so far.</summary>
    internal long BackgroundCheckpoints => _checkpointer?.Checkpoints ?? 0;

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        CreatePrivateFiles();
        _writeConnection = new SqliteConnection(_connectionString);
        await _writeConnection.OpenAsync(cancellationToken);
        // Before WAL mode, and only effective on a new file: 16 KiB pages take a quarter of the
        // page writes, WAL frames and b-tree splits of 4 KiB pages for the same rows.
        Exec(_writeConnection, "PRAGMA page_size = 16384;");
        Exec(_writeConnection, "PRAGMA journal_mode = WAL;");
        Exec(_writeConnection, $"PRAGMA synchronous = {(_options.SyncEveryCommit ? "FULL" : "NORMAL")};");
        Exec(_writeConnection, "PRAGMA busy_timeout = 10000; PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;");
        // Checkpoints are the WalCheckpointer's, on its own thread.
        // The WAL file is cut back to the size at which it starts over (see WalCheckpointer).
        Exec(_writeConnection, $"PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = {(long)_options.WalResetPages * 16384};");
        // BEGIN IMMEDIATE: the write lock before the version is read, so that of several processes opening an older
        // file at once one upgrades it and the others, waiting on the lock (busy_timeout), find it upgraded.
        using (var tx = _writeConnection.BeginTransaction(deferred: false))
        {
            Exec(_writeConnection, StoreSchema.Ddl(Dialect), tx);
            using var check = _writeConnection.CreateCommand();
            check.Transaction = tx;
            check.CommandText = "SELECT version FROM schema_info";
            var version = check.ExecuteScalar();
            long found = version is null ? StoreSchema.Version : Convert.ToInt64(version, System.Globalization.CultureInfo.InvariantCulture);
            if (version is null)
            {
                Exec(_writeConnection, $"INSERT INTO schema_info VALUES ({StoreSchema.Version})", tx);
            }
            else if (StoreSchema.CanUpgrade(found))
            {
                // The schema again after the upgrade: it makes what the upgrade dropped or rebuilt.
                Exec(_writeConnection, StoreSchema.Upgrade(StoreKind.Sqlite, found), tx);
                Exec(_writeConnection, StoreSchema.Ddl(Dialect), tx);
                UpgradedFrom = found;
            }
            else if (found != StoreSchema.Version)
            {
                throw new InvalidOperationException(StoreSchema.VersionMismatch($"SQLite store {Path}", StoreKind.Sqlite, found));
            }
            Exec(_writeConnection, StoreSchema.DeliveryIndexes + StoreSchema.ContextIndexes, tx);
            tx.Commit();
        }
        _statements = new Statements(_writeConnection);
        _checkpointer = new WalCheckpointer(_connectionString, _options.WalResetPages);
        // A thread of its own: the writer is busy whenever batches arrive, and blocks on the queue otherwise.
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        new Thread(() =>
        {
            try
            {
                WriteLoop();
                done.SetResult();
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        })
        { IsBackground = true, Name = "SQLite writer" }.Start();
        _writer = done.Task;
    }

    public Task<StoreOutcome> StoreBatchAsync(EventBatch batch, long receivedUnixMs, CancellationToken cancellationToken) =>
        EnqueueAsync(new BatchWrite(batch, receivedUnixMs, _options.TimeBounds), cancellationToken);

    public Task StoreHeartbeatAsync(AgentHeartbeat heartbeat, long receivedUnixMs, CancellationToken cancellationToken) =>
        StoreHeartbeatAsync(heartbeat, receivedUnixMs, Auth.AgentTokens.DefaultGroup, cancellationToken);

    public async Task StoreHeartbeatAsync(AgentHeartbeat heartbeat, long receivedUnixMs, string group, CancellationToken cancellationToken) =>
        await EnqueueAsync(new HeartbeatWrite(heartbeat, receivedUnixMs, group), cancellationToken);

    public async Task RecordRefusalAsync(BatchRefusal refusal, CancellationToken cancellationToken) =>
        await EnqueueAsync(new RefusalWrite(refusal), cancellationToken);

    private async Task<StoreOutcome> EnqueueAsync(WriteRequest request, CancellationToken cancellationToken)
    {
        if (_writer is null)
        {
            throw new InvalidOperationException("the store is not initialized");
        }
        await _queue.Writer.WriteAsync(request, cancellationToken);
        return await request.Completion.Task.WaitAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<DeliveryFacts>> GetDeliveryFactsAsync(DeliveryQuery query, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReaderAsync(cancellationToken);
        // Deferred: a read snapshot (WAL) for all of the queries, without taking the write lock.
        await using var tx = connection.BeginTransaction(deferred: true);
        return await DeliverySql.ReadAsync(connection, tx, query, cancellationToken);
    }

    public async Task<IReadOnlyList<AgentStats>> GetAgentStatsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenReaderAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        return await StoreSql.ReadAgentStatsAsync(command, cancellationToken);
    }

    public async IAsyncEnumerable<StoredEvent> ReadEventsAsync(EventQuery query, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var connection = await OpenReaderAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        StoreSql.PrepareEventQuery(command, query, Dialect);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await using var payloads = new EventPayloadReader(async ct => await OpenReaderAsync(ct));
        await foreach (var e in StoreSql.ReadEventsAsync(reader, payloads, cancellationToken, query.Context))
        {
            yield return e;
        }
    }

    private async Task<SqliteConnection> OpenReaderAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken);
        Exec(connection, "PRAGMA busy_timeout = 10000;");
        return connection;
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        if (_writer is not null)
        {
            await _writer;
        }
        _checkpointer?.Dispose();
        _statements?.Dispose();
        if (_writeConnection is not null)
        {
            await _writeConnection.DisposeAsync();
        }
    }

    private static void Exec(SqliteConnection connection, string sql, SqliteTransaction? tx = null)
    {
        using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}

/// <summary>Tuning of the SQLite store.</summary>
internal sealed record SqliteStoreOptions
{
    /// <summary>Writes waiting for the writer; beyond this, callers wait (backpressure).</summary>
    public int QueueCapacity { get; init; } = 256;

    /// <summary>Events committed together at most (a single larger batch still commits alone).</summary>
    public int MaxGroupEvents { get; init; } = 50_000;

    /// <summary>synchronous=FULL: every commit reaches the disk before any caller is acknowledged. NORMAL survives a process crash but not a power cut.</summary>
    public bool SyncEveryCommit { get; init; } = true;

    /// <summary>WAL pages (16 KiB) at which the writer completes a checkpoint itself so that the WAL starts over; see <see cref="WalCheckpointer"/>.</summary>
    public int WalResetPages { get; init; } = WalCheckpointer.DefaultResetPages;

    /// <summary>Event times indexed as they are (<c>serve</c> sets them); null indexes every event under its own time.</summary>
    public EventTimeBounds? TimeBounds { get; init; }
}
