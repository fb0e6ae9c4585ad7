using Google.Protobuf;
using Microsoft.Data.Sqlite;
using Sluice.Collector.Interop;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Storage.Sqlite;

internal sealed partial class SqliteEventStore
{
    private Statements? _statements;

    private abstract class WriteRequest : IDisposable
    {
        public TaskCompletionSource<StoreOutcome> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public abstract int EventCount { get; }
        public abstract StoreOutcome Apply(Statements s, SqliteTransaction tx);
        public virtual void Dispose()
        {
        }
    }

    private sealed class BatchWrite(EventBatch batch, long receivedUnixMs, EventTimeBounds? timeBounds) : WriteRequest
    {
        private readonly EncodedRows _rows = EncodedRows.From(batch, IndexTimes.Of(batch, receivedUnixMs, timeBounds));
        public override int EventCount => batch.Events.Count;
        public override StoreOutcome Apply(Statements s, SqliteTransaction tx) => s.WriteBatch(tx, _rows, receivedUnixMs);
        public override void Dispose() => _rows.Dispose();
    }

    private sealed class HeartbeatWrite(AgentHeartbeat heartbeat, long receivedUnixMs, string group) : WriteRequest
    {
        public override int EventCount => 0;
        public override StoreOutcome Apply(Statements s, SqliteTransaction tx)
        {
            s.WriteHeartbeat(tx, heartbeat, receivedUnixMs, group);
            return default;
        }
    }

    private sealed class RefusalWrite(BatchRefusal refusal) : WriteRequest
    {
        public override int EventCount => 0;
        public override StoreOutcome Apply(Statements s, SqliteTransaction tx)
        {
            s.WriteRefusal(tx, refusal);
            return default;
        }
    }

    private void WriteLoop()
    {
        var reader = _queue.Reader;
        var group = new List<WriteRequest>();
        var outcomes = new List<StoreOutcome>();
        while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            group.Clear();
            int events = 0;
            while (events < _options.MaxGroupEvents && reader.TryRead(out var request))
            {
                group.Add(request);
                events += request.EventCount;
            }
            _checkpointer!.BeforeWrite(_writeConnection!.Handle!);
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
            foreach (var request in group)
            {
                request.Dispose();
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

    /// <summary>
    /// Binds one events row to the insert, parameter by parameter in <see cref="EventColumns"/> order (indexes from 1).
    /// Texts are bound in place (SQLITE_STATIC) from the rows' buffer, pinned at <paramref name="text"/> until the row is stepped.
    /// </summary>
    private unsafe struct EventBinder(nint st, byte* text) : IEventColumnWriter
    {
        private int _index;

        public void Int64(string name, long value) => Interop.Sqlite.sqlite3_bind_int64(st, ++_index, value);

        public void Int64(string name, bool has, long value)
        {
            if (has) Interop.Sqlite.sqlite3_bind_int64(st, ++_index, value); else Interop.Sqlite.sqlite3_bind_null(st, ++_index);
        }

        public void Bool(string name, bool has, bool value) => Int64(name, has, value ? 1 : 0);

        public void Text(string name, in EventRow row, int slot, bool notNull)
        {
            if (row.Rows.TryGetRange(row.Ordinal, slot, out int start, out int length))
            {
                Interop.Sqlite.sqlite3_bind_text(st, ++_index, text + start, length, Interop.Sqlite.SQLITE_STATIC);
            }
            else
            {
                Interop.Sqlite.sqlite3_bind_null(st, ++_index);
            }
        }

        public void EmptyBlob(string name) => Interop.Sqlite.sqlite3_bind_zeroblob(st, ++_index, 0);

        public void Blob(string name, in EventRow row, int slot)
        {
            if (row.Rows.TryGetRange(row.Ordinal, slot, out int start, out int length))
            {
                Interop.Sqlite.sqlite3_bind_blob(st, ++_index, text + start, length, Interop.Sqlite.SQLITE_STATIC);
            }
            else
            {
                Interop.Sqlite.sqlite3_bind_null(st, ++_index);
            }
        }

        public readonly void Comment(string line)
        {
        }
    }

    /// <summary>Prepared statements on the writer connection; used only by the writer task.</summary>
    private sealed class Statements : IDisposable
    {
        private readonly SqliteCommand _upsertAgent;
        private readonly SqliteCommand _insertBatch;
        private readonly SqliteCommand _countDuplicate;
        private readonly SqliteCommand _storedDigest;
        // Events and chunks go through SQLite's own API (Interop.Sqlite): at 100k rows/s the ADO.NET parameter layer is the cost.
        private readonly SqliteStatementHandle _insertEvent;
        private readonly SqliteStatementHandle _insertChunk;
        private readonly SqliteCommand _insertHeartbeat;
        private readonly SqliteCommand _heartbeatAgent;
        private readonly SqliteCommand _upsertRules;
        private readonly SqliteCommand _insertRefusal;
        private readonly SqliteCommand _refusalAgent;
        private readonly SqliteCommand _countUnrecorded;

        public Statements(SqliteConnection c)
        {
            var d = Dialect;
            _upsertAgent = Command(c, WriteSql.UpsertAgent(d));
            _insertBatch = Command(c, WriteSql.InsertBatch(d));
            _countDuplicate = Command(c, WriteSql.CountDuplicate(d));
            _storedDigest = Command(c, WriteSql.StoredDigest(d));
            _insertEvent = SqliteStatementHandle.Prepare(c.Handle!, $"""
                INSERT INTO events ({string.Join(", ", EventColumns.Names)})
                VALUES ({string.Join(", ", EventColumns.Names.Select(_ => "?"))})
                """);
            _insertChunk = SqliteStatementHandle.Prepare(c.Handle!, "INSERT INTO event_chunks (batch_id, chunk, data) VALUES (?, ?, ?)");
            _insertHeartbeat = Command(c, WriteSql.InsertHeartbeat(d));
            _heartbeatAgent = Command(c, WriteSql.HeartbeatAgent(d));
            _upsertRules = Command(c, AgentRulesSql.Upsert(d));
            _insertRefusal = Command(c, RefusalSql.Upsert, "agent", "epoch", "sequence", "status", "reason", "events", "digest", "now");
            _countUnrecorded = Command(c, RefusalSql.CountUnrecorded, "agent");
            _refusalAgent = Command(c, RefusalSql.AgentRow, "agent_id", "hostname", "boot_id", "now");
        }

        public void WriteRefusal(SqliteTransaction tx, BatchRefusal r)
        {
            long agent = (long)Run(_refusalAgent, tx, r.AgentId, r.Hostname, r.BootId, r.ReceivedUnixMs)!;
            _insertRefusal.Transaction = tx;
            var parameters = RefusalSql.Parameters(agent, r);
            for (int i = 0; i < parameters.Length; i++)
            {
                _insertRefusal.Parameters[i].Value = parameters[i].Value;
            }
            if (_insertRefusal.ExecuteNonQuery() == 0)
            {
                Run(_countUnrecorded, tx, agent);
            }
        }

        public StoreOutcome WriteBatch(SqliteTransaction tx, EncodedRows rows, long receivedUnixMs)
        {
            var b = rows.Batch;
            long agent = (long)Run(_upsertAgent, tx, b.AgentId, b.Hostname, b.BootId, receivedUnixMs, b.RulesHash)!;
            object? batchId = Run(_insertBatch, tx, BatchColumns.Table.Values(new BatchRow(b, agent, receivedUnixMs, rows.Digest, rows.Times.Adjusted)));
            if (batchId is null)
            {
                // One writer: the row that took the key is committed or earlier in this transaction.
                string stored = (string)Run(_storedDigest, tx, agent, b.Epoch, (long)b.Sequence)!;
                if (!BatchKey.SameContent(stored, rows.Digest))
                {
                    return new StoreOutcome(Duplicate: false, EventsStored: 0, ConflictingDigest: stored);
                }
                Run(_countDuplicate, tx, agent);
                return new StoreOutcome(Duplicate: true, EventsStored: 0);
            }
            long id = (long)batchId;
            InsertEvents(rows, id, agent);
            InsertChunks(rows.Chunks, id);
            return new StoreOutcome(Duplicate: false, EventsStored: b.Events.Count);
        }

        public void WriteHeartbeat(SqliteTransaction tx, AgentHeartbeat h, long receivedUnixMs, string group)
        {
            long agent = (long)Run(_heartbeatAgent, tx, h.AgentId, h.Hostname, h.BootId, receivedUnixMs, h.TimeUnixMs, h.Version, h.RulesHash,
                group, h.PolicyHash, h.PolicyRefusedHash, h.PolicyRefusal)!;
            Run(_insertHeartbeat, tx, HeartbeatColumns.Table.Values(new HeartbeatRow(h, agent, receivedUnixMs, group)));
            if (AgentRulesSql.Text(h) is string rules)
            {
                Run(_upsertRules, tx, agent, h.RulesHash, rules, h.TimeUnixMs);
            }
        }

        private unsafe void InsertEvents(EncodedRows rows, long batchId, long agent)
        {
            using var statement = _insertEvent.Borrow();
            nint st = statement.Pointer;
            try
            {
                fixed (byte* text = rows.Buffer)
                for (int i = 0; i < rows.Count; i++)
                {
                    var binder = new EventBinder(st, text);
                    EventColumns.Write(ref binder, new EventRow(rows, i, batchId, agent));
                    Step(_insertEvent, st);
                }
            }
            finally
            {
                // No pointer into the buffer outlives it.
                Interop.Sqlite.sqlite3_clear_bindings(st);
            }
        }

        private unsafe void InsertChunks(EncodedChunks chunks, long batchId)
        {
            using var statement = _insertChunk.Borrow();
            nint st = statement.Pointer;
            for (int c = 0; c < chunks.Count; c++)
            {
                Interop.Sqlite.sqlite3_bind_int64(st, 1, batchId);
                Interop.Sqlite.sqlite3_bind_int64(st, 2, c);
                var data = chunks[c].Span;
                if (data.IsEmpty)
                {
                    // A null pointer would bind NULL: an empty blob is a zero-length zeroblob.
                    Interop.Sqlite.sqlite3_bind_zeroblob(st, 3, 0);
                }
                else
                {
                    fixed (byte* bytes = data)
                    {
                        Interop.Sqlite.sqlite3_bind_blob(st, 3, bytes, data.Length, Interop.Sqlite.SQLITE_TRANSIENT);
                    }
                }
                Step(_insertChunk, st);
            }
        }

        /// <summary>Runs the insert bound on <paramref name="st"/> (borrowed from <paramref name="statement"/>) and makes it ready for the next row.</summary>
        private static void Step(SqliteStatementHandle statement, nint st)
        {
            int rc = Interop.Sqlite.sqlite3_step(st);
            Interop.Sqlite.sqlite3_reset(st);
            if (rc != Interop.Sqlite.SQLITE_DONE)
            {
                throw statement.Error(rc);
            }
        }

        private static SqliteCommand Command(SqliteConnection c, SqlStatement statement) => Command(c, statement.Text, statement.Parameters);

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
            _storedDigest.Dispose();
            _insertEvent.Dispose();
            _insertChunk.Dispose();
            _insertHeartbeat.Dispose();
            _heartbeatAgent.Dispose();
            _upsertRules.Dispose();
            _insertRefusal.Dispose();
            _countUnrecorded.Dispose();
            _refusalAgent.Dispose();
        }
    }
}
