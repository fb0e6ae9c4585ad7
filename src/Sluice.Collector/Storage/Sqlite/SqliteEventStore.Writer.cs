using Google.Protobuf;
using Microsoft.Data.Sqlite;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Storage.Sqlite;

public sealed partial class SqliteEventStore
{
    private Statements? _statements;

    private abstract class WriteRequest
    {
        public TaskCompletionSource<StoreOutcome> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public abstract int EventCount { get; }
        public abstract StoreOutcome Apply(Statements s, SqliteTransaction tx);
    }

    private sealed class BatchWrite(EventBatch batch, long receivedUnixMs) : WriteRequest
    {
        public override int EventCount => batch.Events.Count;
        public override StoreOutcome Apply(Statements s, SqliteTransaction tx) => s.WriteBatch(tx, batch, receivedUnixMs);
    }

    private sealed class HeartbeatWrite(AgentHeartbeat heartbeat, long receivedUnixMs) : WriteRequest
    {
        public override int EventCount => 0;
        public override StoreOutcome Apply(Statements s, SqliteTransaction tx)
        {
            s.WriteHeartbeat(tx, heartbeat, receivedUnixMs);
            return default;
        }
    }

    private async Task WriteLoopAsync()
    {
        var reader = _queue.Reader;
        var group = new List<WriteRequest>();
        var outcomes = new List<StoreOutcome>();
        while (await reader.WaitToReadAsync())
        {
            group.Clear();
            int events = 0;
            while (events < _options.MaxGroupEvents && reader.TryRead(out var request))
            {
                group.Add(request);
                events += request.EventCount;
            }
            try
            {
                outcomes.Clear();
                using (var tx = _writeConnection!.BeginTransaction())
                {
                    foreach (var request in group)
                    {
                        outcomes.Add(request.Apply(_statements!, tx));
                    }
                    tx.Commit();
                }
                for (int i = 0; i < group.Count; i++)
                {
                    group[i].Completion.TrySetResult(outcomes[i]);
                }
            }
            catch (Exception) when (group.Count > 1)
            {
                // Isolate the write that failed: each one alone, in its own transaction.
                foreach (var request in group)
                {
                    ApplyAlone(request);
                }
            }
            catch (Exception e)
            {
                group[0].Completion.TrySetException(e);
            }
        }
    }

    private void ApplyAlone(WriteRequest request)
    {
        try
        {
            using var tx = _writeConnection!.BeginTransaction();
            var outcome = request.Apply(_statements!, tx);
            tx.Commit();
            request.Completion.TrySetResult(outcome);
        }
        catch (Exception e)
        {
            request.Completion.TrySetException(e);
        }
    }

    /// <summary>Prepared statements on the writer connection; used only by the writer task.</summary>
    private sealed class Statements : IDisposable
    {
        private static readonly string[] EventColumns =
        [
            "batch_id", "ordinal", "agent", "time_ms", "serial", "node", "first_type", "record_types", "syscall", "success",
            "exit", "pid", "ppid", "uid", "auid", "euid", "ses", "key", "exe", "comm", "argv", "payload",
        ];

        private readonly SqliteCommand _upsertAgent;
        private readonly SqliteCommand _insertBatch;
        private readonly SqliteCommand _countDuplicate;
        private readonly SqliteCommand _insertEvent;
        private readonly SqliteParameter[] _eventParameters;
        private readonly SqliteCommand _insertHeartbeat;
        private readonly SqliteCommand _heartbeatAgent;
        private readonly SqliteParameter[] _heartbeatParameters;

        public Statements(SqliteConnection c)
        {
            _upsertAgent = Command(c, """
                INSERT INTO agents (agent_id, hostname, boot_id, first_seen_ms, last_seen_ms, rules_hash)
                VALUES (@agent_id, @hostname, @boot_id, @now, @now, @rules_hash)
                ON CONFLICT (agent_id) DO UPDATE SET
                    hostname = excluded.hostname, boot_id = excluded.boot_id,
                    last_seen_ms = max(last_seen_ms, excluded.last_seen_ms),
                    rules_hash = CASE WHEN excluded.rules_hash <> '' THEN excluded.rules_hash ELSE rules_hash END
                RETURNING id
                """, "agent_id", "hostname", "boot_id", "now", "rules_hash");
            string[] batchColumns =
            [
                "agent", "sequence", "hostname", "boot_id", "created_ms", "interval_start_ms", "interval_end_ms",
                "received_ms", "event_count", "rules_hash", .. LossColumns.Names,
            ];
            _insertBatch = Command(c, $"""
                INSERT INTO batches ({string.Join(", ", batchColumns)})
                VALUES ({string.Join(", ", batchColumns.Select(n => "@" + n))})
                ON CONFLICT (agent, sequence) DO NOTHING
                RETURNING id
                """, batchColumns);
            _countDuplicate = Command(c, "UPDATE agents SET duplicates = duplicates + 1 WHERE id = @id", "id");
            _insertEvent = Command(c, $"""
                INSERT INTO events ({string.Join(", ", EventColumns)})
                VALUES ({string.Join(", ", EventColumns.Select(n => "@" + n))})
                """, EventColumns);
            _eventParameters = [.. _insertEvent.Parameters.Cast<SqliteParameter>()];
            _insertHeartbeat = Command(c, $"""
                INSERT INTO heartbeats ({string.Join(", ", HeartbeatColumns.All)})
                VALUES ({string.Join(", ", HeartbeatColumns.All.Select(n => "@" + n))})
                """, HeartbeatColumns.All);
            _heartbeatParameters = [.. _insertHeartbeat.Parameters.Cast<SqliteParameter>()];
            _heartbeatAgent = Command(c, """
                INSERT INTO agents (agent_id, hostname, boot_id, first_seen_ms, last_seen_ms, last_heartbeat_ms, version, rules_hash)
                VALUES (@agent_id, @hostname, @boot_id, @now, @now, @time, @version, @rules_hash)
                ON CONFLICT (agent_id) DO UPDATE SET
                    hostname = excluded.hostname, boot_id = excluded.boot_id, version = excluded.version,
                    last_seen_ms = max(last_seen_ms, excluded.last_seen_ms),
                    last_heartbeat_ms = max(coalesce(last_heartbeat_ms, 0), excluded.last_heartbeat_ms),
                    rules_hash = CASE WHEN excluded.rules_hash <> '' THEN excluded.rules_hash ELSE rules_hash END
                RETURNING id
                """, "agent_id", "hostname", "boot_id", "now", "time", "version", "rules_hash");
        }

        public StoreOutcome WriteBatch(SqliteTransaction tx, EventBatch b, long receivedUnixMs)
        {
            long agent = (long)Run(_upsertAgent, tx, b.AgentId, b.Hostname, b.BootId, receivedUnixMs, b.RulesHash)!;
            object?[] batchValues =
            [
                agent, (long)b.Sequence, b.Hostname, b.BootId, b.CreatedUnixMs, b.IntervalStartUnixMs, b.IntervalEndUnixMs,
                receivedUnixMs, (long)b.Events.Count, b.RulesHash, .. LossColumns.Values(b.Loss).Cast<object?>(),
            ];
            object? batchId = Run(_insertBatch, tx, batchValues);
            if (batchId is null)
            {
                Run(_countDuplicate, tx, agent);
                return new StoreOutcome(Duplicate: true, EventsStored: 0);
            }
            _insertEvent.Transaction = tx;
            var p = _eventParameters;
            for (int i = 0; i < b.Events.Count; i++)
            {
                var e = b.Events[i];
                var s = EventSummary.From(e);
                p[0].Value = batchId;
                p[1].Value = i;
                p[2].Value = agent;
                p[3].Value = e.TimeUnixMs;
                p[4].Value = (long)e.Serial;
                p[5].Value = (object?)s.Node ?? DBNull.Value;
                p[6].Value = s.FirstType;
                p[7].Value = s.RecordTypes;
                p[8].Value = (object?)s.Syscall ?? DBNull.Value;
                p[9].Value = s.Success is bool ok ? (ok ? 1L : 0L) : DBNull.Value;
                p[10].Value = (object?)s.Exit ?? DBNull.Value;
                p[11].Value = (object?)s.Pid ?? DBNull.Value;
                p[12].Value = (object?)s.Ppid ?? DBNull.Value;
                p[13].Value = (object?)s.Uid ?? DBNull.Value;
                p[14].Value = (object?)s.Auid ?? DBNull.Value;
                p[15].Value = (object?)s.Euid ?? DBNull.Value;
                p[16].Value = (object?)s.Ses ?? DBNull.Value;
                p[17].Value = (object?)s.Key ?? DBNull.Value;
                p[18].Value = (object?)s.Exe ?? DBNull.Value;
                p[19].Value = (object?)s.Comm ?? DBNull.Value;
                p[20].Value = (object?)s.Argv ?? DBNull.Value;
                p[21].Value = e.ToByteArray();
                _insertEvent.ExecuteNonQuery();
            }
            return new StoreOutcome(Duplicate: false, EventsStored: b.Events.Count);
        }

        public void WriteHeartbeat(SqliteTransaction tx, AgentHeartbeat h, long receivedUnixMs)
        {
            long agent = (long)Run(_heartbeatAgent, tx, h.AgentId, h.Hostname, h.BootId, receivedUnixMs, h.TimeUnixMs, h.Version, h.RulesHash)!;
            Run(_insertHeartbeat, tx, HeartbeatColumns.Values(agent, h, receivedUnixMs));
        }

        private static SqliteCommand Command(SqliteConnection c, string sql, params string[] parameters)
        {
            var command = c.CreateCommand();
            command.CommandText = sql;
            foreach (var name in parameters)
            {
                command.Parameters.Add(new SqliteParameter("@" + name, null));
            }
            return command;
        }

        private static object? Run(SqliteCommand command, SqliteTransaction tx, params object?[] values)
        {
            command.Transaction = tx;
            for (int i = 0; i < values.Length; i++)
            {
                command.Parameters[i].Value = values[i] ?? DBNull.Value;
            }
            object? result = command.ExecuteScalar();
            return result is DBNull ? null : result;
        }

        public void Dispose()
        {
            _upsertAgent.Dispose();
            _insertBatch.Dispose();
            _countDuplicate.Dispose();
            _insertEvent.Dispose();
            _insertHeartbeat.Dispose();
            _heartbeatAgent.Dispose();
        }
    }
}
