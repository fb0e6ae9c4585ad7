using Npgsql;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Storage.Postgres;

/// <summary>
/// Batches written together: the batches that arrive while a flush is being written go into the next one, so a fleet
/// of small batches costs PostgreSQL a few statements and one commit per flush, not per batch.
/// </summary>
/// <remarks>
/// <para>
/// Why: with 1,000 agents each sending one small batch (median 20 events) a second, PostgreSQL spent about 2,300 µs of
/// CPU per batch, 85 µs per event, against about 12 µs per event in large batches. Its profile was the fixed work of
/// each batch: a COPY's setup, round trips (send, receive and epoll about 15%), a commit and the parsing of each
/// statement. A flush does that work once for all of its batches.
/// </para>
/// <para>
/// Group commit, not a timer: a batch that finds fewer than <see cref="MaxBatchFlushes"/> flushes running starts one
/// at once, so a lone batch waits for nothing but its own transaction; under load each flush takes what queued
/// meanwhile, in arrival order, at most <see cref="MaxBatchesPerFlush"/> batches and <see cref="MaxEventsPerFlush"/>
/// events (a larger batch goes alone). Up to two flushes at a time, so that PostgreSQL can write one while the other
/// waits for its commit to reach the disk (a guess for a database server of two cores, not a measured figure: the
/// constant is there to change). At most <see cref="MaxQueuedBatches"/> are queued or being written (a caller beyond
/// that waits for room, under its own cancellation).
/// </para>
/// <para>
/// A flush of several: the agent rows in one round trip, outside the transaction as for a batch alone; then one
/// transaction with the batch rows in one round trip, one COPY of all the new batches' events (into the day partition
/// when they all fall in one day) and one COPY of their chunks. A batch whose key was taken (by a batch stored before,
/// or by another of the same flush: an agent's resend) is settled after the commit, alone, as before: that write sees
/// the committed row, and counts a duplicate or answers the conflict. Each caller's outcome is the one the batch
/// would have had alone, and it is given only once the transaction holding the batch has committed.
/// </para>
/// <para>
/// When a flush fails, nothing of it is stored and each of its batches is written again alone, so one bad batch (or a
/// deadlock, or a partition a prune dropped) fails only its own call, with the error it meets alone.
/// </para>
/// <para>
/// Lock order: the agent rows and the batch rows are written in agent_id order (bytewise, as PostgreSQL's "C"
/// collation orders them), then epoch and sequence. A batch row locks its agent row (a share lock, through the foreign
/// key) and its key; the heartbeat flush locks agent rows in that same order, so two flushes, of batches or of
/// heartbeats, of this collector or of another over the same database, never wait on each other in a cycle.
/// </para>
/// </remarks>
internal sealed partial class PostgresEventStore
{
    /// <summary>Batches at most in one flush.</summary>
    internal const int MaxBatchesPerFlush = 256;

    /// <summary>Events at most in one flush; a batch with more goes alone.</summary>
    internal const int MaxEventsPerFlush = 20_000;

    /// <summary>Flushes written at once: one can be written while another waits for its commit.</summary>
    /// <remarks>Also the connections the batches hold at once (besides those of heartbeats and readers).</remarks>
    internal const int MaxBatchFlushes = 2;

    /// <summary>Batches at most queued or being written; each holds its encoded rows until it is written.</summary>
    internal const int MaxQueuedBatches = 2048;

    private sealed class PendingBatch(EncodedRows rows, long receivedUnixMs)
    {
        public EncodedRows Rows { get; } = rows;

        public long ReceivedUnixMs { get; } = receivedUnixMs;

        public TaskCompletionSource<StoreOutcome> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>In a flush: the agent's row id.</summary>
        public long Agent { get; set; }

        /// <summary>In a flush: the batch row's id, or null when the key was taken.</summary>
        public long? BatchId { get; set; }
    }

    // Guards itself and _batchFlushes: a flush takes batches only while it is under the limits, which a
    // concurrent queue cannot look at and take in one step.
    private readonly Queue<PendingBatch> _batches = new();
    private readonly SemaphoreSlim _batchRoom = new(MaxQueuedBatches, MaxQueuedBatches);
    private int _batchFlushes;
    private long _batchTransactions;

    /// <summary>Transactions that wrote batches (a flush, or one batch written alone): for tests and figures.</summary>
    internal long BatchTransactions => Interlocked.Read(ref _batchTransactions);

    /// <summary>Batches waiting for a flush (not those being written): for tests.</summary>
    internal int QueuedBatches
    {
        get
        {
            lock (_batches)
            {
                return _batches.Count;
            }
        }
    }

    public async Task<StoreOutcome> StoreBatchAsync(EventBatch batch, long receivedUnixMs, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        await _batchRoom.WaitAsync(cancellationToken);
        PendingBatch pending;
        try
        {
            // Encoded here, on the calling thread: that gives the digest, and the flush only copies bytes (were it
            // encoding, it would serialise every caller's serialisation and compression).
            pending = new PendingBatch(EncodedRows.From(batch, IndexTimes.Of(batch, receivedUnixMs, _timeBounds)), receivedUnixMs);
        }
        catch
        {
            _batchRoom.Release();
            throw;
        }
        bool start;
        lock (_batches)
        {
            _batches.Enqueue(pending);
            start = _batchFlushes < MaxBatchFlushes;
            if (start)
            {
                _batchFlushes++;
            }
        }
        if (start)
        {
            _ = Task.Run(FlushBatchesAsync, CancellationToken.None);
        }
        // Once queued it is written whatever this caller does; cancelling only stops the wait (and so the acknowledgement).
        return await pending.Done.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Writes what is queued, flush after flush, until the queue is empty.</summary>
    private async Task FlushBatchesAsync()
    {
        while (true)
        {
            var flush = new List<PendingBatch>();
            lock (_batches)
            {
                int events = 0;
                while (_batches.TryPeek(out var next)
                    && (flush.Count == 0 || (flush.Count < MaxBatchesPerFlush && events + next.Rows.Count <= MaxEventsPerFlush)))
                {
                    flush.Add(_batches.Dequeue());
                    events += next.Rows.Count;
                }
                if (flush.Count == 0)
                {
                    // Under the lock: a batch queued from now on finds a flush free and starts one.
                    _batchFlushes--;
                    return;
                }
            }
            try
            {
                await WriteBatchesAsync(flush);
            }
            finally
            {
                foreach (var p in flush)
                {
                    p.Rows.Dispose();
                }
                _batchRoom.Release(flush.Count);
            }
        }
    }

    /// <summary>Writes a flush and completes each of its callers; throws nothing.</summary>
    private async Task WriteBatchesAsync(List<PendingBatch> flush)
    {
        if (flush.Count == 1)
        {
            await WriteAloneAsync(flush[0]);
            return;
        }
        try
        {
            await WriteFlushAsync(flush);
        }
        catch (Exception e)
        {
            // Rolled back: nothing of it is stored. Each again alone, so that only a batch that fails by itself fails.
            if (e is PostgresException pg && StoreErrors.IsMissingPartition(pg))
            {
                // A prune dropped a day partition this process knew: made again by the writes alone.
                foreach (var p in flush)
                {
                    ForgetDays(p.Rows);
                }
            }
            foreach (var p in flush)
            {
                await WriteAloneAsync(p);
            }
            return;
        }
        foreach (var p in flush)
        {
            if (p.BatchId is not null)
            {
                p.Done.TrySetResult(new StoreOutcome(Duplicate: false, EventsStored: p.Rows.Count));
            }
        }
        foreach (var p in flush)
        {
            if (p.BatchId is null)
            {
                await WriteAloneAsync(p);
            }
        }
    }

    private async Task WriteAloneAsync(PendingBatch p)
    {
        try
        {
            p.Done.TrySetResult(await StoreAloneAsync(p.Rows, p.ReceivedUnixMs, CancellationToken.None));
        }
        catch (Exception e)
        {
            p.Done.TrySetException(e);
        }
    }

    /// <summary>
    /// The flush's agent rows, then its batches in one transaction; sets each batch's <see cref="PendingBatch.BatchId"/>
    /// (null: key taken, nothing of it written) and returns once committed.
    /// </summary>
    private async Task WriteFlushAsync(List<PendingBatch> flush)
    {
        var ct = CancellationToken.None;
        // Stable: an agent's batches stay in arrival order, so the first of a key is the one stored, as alone.
        var ordered = flush.Order(KeyOrder.Instance).ToList();
        await using var connection = await _dataSource.OpenConnectionAsync(ct);
        foreach (var p in ordered)
        {
            await EnsurePartitionsAsync(connection, p.Rows.Batch, p.Rows.Times, ct);
        }

        // One statement per batch, as alone: an agent rarely has two in one flush, and two statements keep its row
        // exactly as two batches alone would (first_seen_ms of the first, last_seen_ms of the later). Autocommitted, in
        // agent_id order (the round trip is one implicit transaction, which holds each row it updated until the end).
        await using (var upserts = new NpgsqlBatch(connection))
        {
            foreach (var p in ordered)
            {
                var b = p.Rows.Batch;
                upserts.BatchCommands.Add(BatchCommand(UpsertAgent, b.AgentId, b.Hostname, b.BootId, p.ReceivedUnixMs, b.RulesHash));
            }
            await using var reader = await upserts.ExecuteReaderAsync(ct);
            foreach (var p in ordered)
            {
                await reader.ReadAsync(ct);
                p.Agent = reader.GetInt64(0);
                await reader.NextResultAsync(ct);
            }
        }

        Interlocked.Increment(ref _batchTransactions);
        await using var tx = await connection.BeginTransactionAsync(ct);
        await using (var inserts = new NpgsqlBatch(connection, tx))
        {
            foreach (var p in ordered)
            {
                var command = new NpgsqlBatchCommand(InsertBatch.Text);
                AddParameters(command.Parameters, BatchColumns.Table, new BatchRow(p.Rows.Batch, p.Agent, p.ReceivedUnixMs, p.Rows.Digest, p.Rows.Times.Adjusted));
                inserts.BatchCommands.Add(command);
            }
            await using var reader = await inserts.ExecuteReaderAsync(ct);
            foreach (var p in ordered)
            {
                // ON CONFLICT DO NOTHING returns no row for a key taken, by a batch committed or by one earlier here.
                p.BatchId = await reader.ReadAsync(ct) ? reader.GetInt64(0) : null;
                await reader.NextResultAsync(ct);
            }
        }

        var stored = ordered.Where(p => p.BatchId is not null && p.Rows.Count > 0).ToList();
        if (stored.Count > 0)
        {
            using (var events = BinaryCopy.Start(stored.Sum(p => BinaryCopy.EventsBytes(p.Rows))))
            {
                foreach (var p in stored)
                {
                    events.AppendEvents(p.Rows, p.BatchId!.Value, p.Agent);
                }
                events.Finish();
                // Straight into the day's partition when every row is of one day, as for a batch alone.
                string sql = SingleDay(stored) is long day ? CopyInto(PostgresSchema.PartitionName(day)) : CopyEvents;
                await CopyAsync(connection, sql, events, ct);
            }
            using var chunks = BinaryCopy.Start(stored.Sum(p => BinaryCopy.ChunksBytes(p.Rows.Chunks)));
            foreach (var p in stored)
            {
                chunks.AppendChunks(p.Rows.Chunks, p.BatchId!.Value);
            }
            chunks.Finish();
            await CopyAsync(connection, CopyChunks, chunks, ct);
        }
        await tx.CommitAsync(ct);
    }

    /// <summary>The one day every event of <paramref name="batches"/> is indexed in, or null.</summary>
    private static long? SingleDay(List<PendingBatch> batches)
    {
        long? day = null;
        foreach (var p in batches)
        {
            if (SingleDay(p.Rows.Batch, p.Rows.Times) is not long d || (day is not null && day != d))
            {
                return null;
            }
            day = d;
        }
        return day;
    }

    /// <summary><paramref name="statement"/> with <paramref name="values"/>, in the order of its parameters, for an <see cref="NpgsqlBatch"/>.</summary>
    private static NpgsqlBatchCommand BatchCommand(SqlStatement statement, params object[] values)
    {
        if (values.Length != statement.Parameters.Length)
        {
            throw new ArgumentException($"{values.Length} values for the parameters {string.Join(", ", statement.Parameters)}", nameof(values));
        }
        var command = new NpgsqlBatchCommand(statement.Text);
        foreach (var value in values)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }
        return command;
    }

    /// <summary>
    /// Batches in the order their rows are locked: agent_id by code point (the order of its UTF-8 bytes, PostgreSQL's
    /// "C" collation, in which the heartbeat flush locks agent rows; UTF-16 ordinal order differs above U+D7FF),
    /// then epoch and sequence.
    /// </summary>
    private sealed class KeyOrder : IComparer<PendingBatch>
    {
        public static readonly KeyOrder Instance = new();

        public int Compare(PendingBatch? x, PendingBatch? y)
        {
            var a = x!.Rows.Batch;
            var b = y!.Rows.Batch;
            int c = CodePoints(a.AgentId, b.AgentId);
            if (c == 0)
            {
                c = CodePoints(a.Epoch, b.Epoch);
            }
            return c != 0 ? c : a.Sequence.CompareTo(b.Sequence);
        }

        private static int CodePoints(string a, string b)
        {
            var x = a.EnumerateRunes();
            var y = b.EnumerateRunes();
            while (true)
            {
                bool more = x.MoveNext();
                if (more != y.MoveNext())
                {
                    return more ? 1 : -1;
                }
                if (!more)
                {
                    return 0;
                }
                int c = x.Current.Value.CompareTo(y.Current.Value);
                if (c != 0)
                {
                    return c;
                }
            }
        }
    }
}
