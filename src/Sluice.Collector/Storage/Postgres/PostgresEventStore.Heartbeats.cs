using System.Collections.Concurrent;
using Npgsql;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Storage.Postgres;

/// <summary>
/// Heartbeats written together: the heartbeats that arrive while one transaction is being written go into the next
/// one, so a fleet's heartbeats cost one commit per flush, not one each (10,000 agents every 30 s are 333 a second).
/// </summary>
/// <remarks>
/// <para>
/// Group commit, not a timer: a heartbeat that finds no flush running starts one at once, so a lone heartbeat waits for
/// nothing but its own transaction; under load each flush takes what queued meanwhile, at most
/// <see cref="MaxHeartbeatsPerFlush"/>. At most <see cref="MaxQueuedHeartbeats"/> wait (a caller beyond that waits for
/// room, under its own cancellation).
/// </para>
/// <para>
/// A caller's heartbeat is acknowledged only once the transaction holding it has committed: the call returns after the
/// commit, or throws what failed. When a transaction of several fails, each of its heartbeats is written again in a
/// transaction of its own, so one bad heartbeat (or a deadlock with another collector) fails only its own call. Each
/// heartbeat is written by the same statements as before (agent row, heartbeat row, rules text), in the order they
/// arrived; a flush sorts nothing but takes the agent rows' locks in agent id order, so that two collectors flushing
/// over one database do not deadlock each other.
/// </para>
/// </remarks>
internal sealed partial class PostgresEventStore
{
    /// <summary>Heartbeats at most in one transaction.</summary>
    internal const int MaxHeartbeatsPerFlush = 256;

    /// <summary>Heartbeats at most waiting for a flush.</summary>
    internal const int MaxQueuedHeartbeats = 8192;

    private sealed record PendingHeartbeat(AgentHeartbeat Heartbeat, long ReceivedUnixMs, string Group)
    {
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private readonly ConcurrentQueue<PendingHeartbeat> _heartbeats = new();
    private readonly SemaphoreSlim _heartbeatRoom = new(MaxQueuedHeartbeats, MaxQueuedHeartbeats);
    private int _flushing;
    private long _heartbeatTransactions;

    /// <summary>Transactions that wrote heartbeats (a flush, or one heartbeat written again alone): for tests and figures.</summary>
    internal long HeartbeatTransactions => Interlocked.Read(ref _heartbeatTransactions);

    public async Task StoreHeartbeatAsync(AgentHeartbeat heartbeat, long receivedUnixMs, string group, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(heartbeat);
        await _heartbeatRoom.WaitAsync(cancellationToken);
        var pending = new PendingHeartbeat(heartbeat, receivedUnixMs, group);
        _heartbeats.Enqueue(pending);
        if (Interlocked.CompareExchange(ref _flushing, 1, 0) == 0)
        {
            _ = Task.Run(FlushHeartbeatsAsync, CancellationToken.None);
        }
        // Once queued it is written whatever this caller does; cancelling only stops the wait (and so the acknowledgement).
        await pending.Done.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Writes what is queued, flush after flush, until the queue is empty; one runs at a time.</summary>
    private async Task FlushHeartbeatsAsync()
    {
        while (true)
        {
            var flush = new List<PendingHeartbeat>();
            while (flush.Count < MaxHeartbeatsPerFlush && _heartbeats.TryDequeue(out var p))
            {
                flush.Add(p);
            }
            if (flush.Count > 0)
            {
                await WriteHeartbeatsAsync(flush);
                _heartbeatRoom.Release(flush.Count);
                continue;
            }
            Volatile.Write(ref _flushing, 0);
            // A heartbeat queued after the queue was seen empty but before the flag was cleared found a flush running.
            if (_heartbeats.IsEmpty || Interlocked.CompareExchange(ref _flushing, 1, 0) != 0)
            {
                return;
            }
        }
    }

    private async Task WriteHeartbeatsAsync(List<PendingHeartbeat> flush)
    {
        try
        {
            await WriteHeartbeatsInOneTransactionAsync(flush);
            foreach (var p in flush)
            {
                p.Done.TrySetResult();
            }
            return;
        }
        catch (Exception e) when (flush.Count == 1)
        {
            flush[0].Done.TrySetException(e);
            return;
        }
        catch (Exception)
        {
            // Rolled back: nothing of it is stored. Each again alone, so only a heartbeat that fails by itself fails.
        }
        foreach (var p in flush)
        {
            try
            {
                await WriteHeartbeatsInOneTransactionAsync([p]);
                p.Done.TrySetResult();
            }
            catch (Exception e)
            {
                p.Done.TrySetException(e);
            }
        }
    }

    private async Task WriteHeartbeatsInOneTransactionAsync(List<PendingHeartbeat> flush)
    {
        Interlocked.Increment(ref _heartbeatTransactions);
        var ct = CancellationToken.None;
        await using var connection = await _dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        if (flush.Count > 1)
        {
            // The agent rows' locks in one order (ids ordinal), before any of them is written in arrival order. The lock
            // the upserts take anyway (NO KEY UPDATE: they change no key), not FOR UPDATE, which also waits for every
            // transaction that inserts a batch of the agent (its foreign key holds a KEY SHARE lock on the agent row):
            // under a fleet's batches the heartbeats queued behind them.
            await using var lockAgents = new NpgsqlCommand(
                "SELECT id FROM agents WHERE agent_id = ANY($1) ORDER BY agent_id COLLATE \"C\" FOR NO KEY UPDATE", connection, tx);
            lockAgents.Parameters.Add(new() { Value = flush.Select(p => p.Heartbeat.AgentId).Distinct(StringComparer.Ordinal).ToArray() });
            await lockAgents.ExecuteNonQueryAsync(ct);
        }
        foreach (var p in flush)
        {
            await WriteHeartbeatAsync(connection, tx, p.Heartbeat, p.ReceivedUnixMs, p.Group, ct);
        }
        await tx.CommitAsync(ct);
    }

    private static async Task WriteHeartbeatAsync(NpgsqlConnection connection, NpgsqlTransaction tx, AgentHeartbeat heartbeat, long receivedUnixMs, string group, CancellationToken ct)
    {
        long agent;
        await using (var upsert = Command(HeartbeatAgent, connection, tx,
            heartbeat.AgentId, heartbeat.Hostname, heartbeat.BootId, receivedUnixMs, heartbeat.TimeUnixMs, heartbeat.Version, heartbeat.RulesHash,
            group, heartbeat.PolicyHash, heartbeat.PolicyRefusedHash, heartbeat.PolicyRefusal))
        {
            agent = (long)(await upsert.ExecuteScalarAsync(ct))!;
        }
        await using (var insert = new NpgsqlCommand(InsertHeartbeat.Text, connection, tx))
        {
            AddParameters(insert, HeartbeatColumns.Table, new HeartbeatRow(heartbeat, agent, receivedUnixMs, group));
            await insert.ExecuteNonQueryAsync(ct);
        }
        if (AgentRulesSql.Text(heartbeat) is string rules)
        {
            await using var upsert = Command(UpsertRules, connection, tx, agent, heartbeat.RulesHash, rules, heartbeat.TimeUnixMs);
            await upsert.ExecuteNonQueryAsync(ct);
        }
    }
}
