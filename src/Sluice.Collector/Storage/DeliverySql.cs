using System.Data.Common;

namespace Sluice.Collector.Storage;

/// <summary>
/// <see cref="IEventStore.GetDeliveryFactsAsync"/>: the delivery facts of agents, in SQL that SQLite and PostgreSQL both
/// accept. Every pass over an agent's batches is a window function in the database, in the order of an index
/// (see the remarks), so that an agent with a million batches costs seconds, not a million rows sent to the collector.
/// </summary>
/// <remarks>
/// <para>
/// Missing sequences: for each (agent, epoch), the stored batches and the refused keys in sequence order (the
/// order of the (agent, epoch, sequence) key); a gap is the run between one and the next (LAG), from the
/// epoch's <c>epoch_start_sequence</c> on and up to the highest stored sequence. A sequence both stored and
/// refused (a conflict) is there twice, which makes no gap.
/// </para>
/// <para>
/// Interleaving: the agent's batches (for epochs), or its batches and heartbeats (for boot ids), in the order
/// they were received. An item made (by the agent's clock: a batch's created time, a heartbeat's time) before
/// an item received earlier was held back on the way (a spool drained after a reboot, a call still in flight
/// when the epoch changed): it is left out, since a single agent produces exactly that. Among the others, a key
/// that comes back after another (A, B, A) is an alternation: two spools or two machines sending as one agent.
/// </para>
/// <para>
/// With a time range: gaps whose surrounding items (the stored or refused batches before and after it) were
/// received over a span that meets the range; refusals first seen in it; alternations received in it; the
/// epochs, the latest epoch and the agent's explanations (its spool_dropped and spool_corrupt batches) of the
/// batches received in it. <c>refusals_unrecorded</c> has no time and is always counted.
/// </para>
/// </remarks>
internal static class DeliverySql
{
    /// <summary>Gap ranges returned per agent, for people to look up; <see cref="DeliveryFacts.MissingSequences"/> counts them all.</summary>
    public const int MaxGapRanges = 10;

    /// <summary>The status of a refusal for a key taken by other content (<see cref="DeliveryFacts.Conflicts"/>).</summary>
    public const string ConflictStatus = nameof(Grpc.Core.StatusCode.AlreadyExists);

    /// <summary>Reads the facts of <paramref name="query"/> on <paramref name="connection"/>, within <paramref name="transaction"/> (one snapshot).</summary>
    public static async Task<IReadOnlyList<DeliveryFacts>> ReadAsync(
        DbConnection connection, DbTransaction transaction, DeliveryQuery query, CancellationToken ct)
    {
        var facts = new Dictionary<long, Builder>();
        await ReadAsync(connection, transaction, query, Agents(query), r =>
        {
            facts[r.GetInt64(0)] = new Builder
            {
                AgentId = r.GetString(1),
                RefusalsUnrecorded = r.GetInt64(2),
                Epochs = (int)Math.Min(r.GetInt64(3), int.MaxValue),
                Explained = Saturating.Add(r.GetInt64(4), r.GetInt64(5)),
                LatestEpoch = r.GetString(6),
            };
        }, ct);
        await ReadAsync(connection, transaction, query, Gaps(query), r =>
        {
            if (!facts.TryGetValue(r.GetInt64(0), out var f))
            {
                return;
            }
            if (r.IsDBNull(1))
            {
                f.Missing = r.GetInt64(4);
            }
            else
            {
                f.Gaps.Add(new SequenceGap(r.GetString(1), (ulong)r.GetInt64(2), (ulong)r.GetInt64(3)));
            }
        }, ct);
        await ReadAsync(connection, transaction, query, Refusals(query), r =>
        {
            if (facts.TryGetValue(r.GetInt64(0), out var f))
            {
                (f.RefusedBatches, f.RefusedEvents, f.Conflicts) = (r.GetInt64(1), r.GetInt64(2), r.GetInt64(3));
            }
        }, ct);
        await ReadAsync(connection, transaction, query, Alternations(query, EpochItems(query)), r =>
        {
            if (facts.TryGetValue(r.GetInt64(0), out var f))
            {
                f.InterleavedEpochs = r.GetInt64(1) > 0;
            }
        }, ct);
        await ReadAsync(connection, transaction, query, Alternations(query, BootIdItems(query)), r =>
        {
            if (facts.TryGetValue(r.GetInt64(0), out var f))
            {
                f.InterleavedBootIds = r.GetInt64(1) > 0;
            }
        }, ct);
        var list = facts.Values.Select(f => f.Build()).ToList();
        list.Sort((x, y) => string.CompareOrdinal(x.AgentId, y.AgentId));
        return list;
    }

    private static async Task ReadAsync(DbConnection c, DbTransaction tx, DeliveryQuery query, string sql, Action<DbDataReader> row, CancellationToken ct)
    {
        await using var command = c.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        if (query.AgentId is not null)
        {
            StoreSql.Add(command, "agent", query.AgentId);
        }
        if (query.FromUnixMs is not null || query.ToUnixMs is not null)
        {
            StoreSql.Add(command, "from", query.FromUnixMs ?? long.MinValue);
            StoreSql.Add(command, "to", query.ToUnixMs ?? long.MaxValue);
        }
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            row(reader);
        }
    }

    private static bool Ranged(DeliveryQuery q) => q.FromUnixMs is not null || q.ToUnixMs is not null;

    /// <summary>" AND {column} = the agent's id" when the query names an agent.</summary>
    private static string OfAgent(DeliveryQuery q, string column) =>
        q.AgentId is null ? "" : $" AND {column} = (SELECT id FROM agents WHERE agent_id = @agent)";

    /// <summary>" AND {column} in [from, to)" when the query has a range.</summary>
    private static string InRange(DeliveryQuery q, string column) =>
        Ranged(q) ? $" AND {column} >= @from AND {column} < @to" : "";

    /// <summary>agent id, agent_id, refusals_unrecorded, epochs, spool_dropped_batches, spool_corrupt_batches, latest epoch.</summary>
    internal static string Agents(DeliveryQuery q) => $"""
        SELECT a.id, a.agent_id, a.refusals_unrecorded, COALESCE(b.epochs, 0), COALESCE(b.dropped, 0), COALESCE(b.corrupt, 0),
               COALESCE((SELECT l.epoch FROM batches l WHERE l.agent = a.id{InRange(q, "l.received_ms")}
                         ORDER BY l.received_ms DESC, l.id DESC LIMIT 1), '')
        FROM agents a LEFT JOIN (
            SELECT agent, COUNT(DISTINCT epoch) AS epochs,
                   {StoreSql.SaturatingSum("spool_dropped_batches")} AS dropped, {StoreSql.SaturatingSum("spool_corrupt_batches")} AS corrupt
            FROM batches WHERE 1 = 1{OfAgent(q, "agent")}{InRange(q, "received_ms")}
            GROUP BY agent
        ) b ON b.agent = a.id
        WHERE 1 = 1{(q.AgentId is null ? "" : " AND a.agent_id = @agent")}
        """;

    /// <summary>
    /// Rows (agent, NULL, 0, 0, missing sequences) with the total per agent, and (agent, epoch, from, to, NULL)
    /// for its first <see cref="MaxGapRanges"/> gaps, earliest received first.
    /// </summary>
    internal static string Gaps(DeliveryQuery q)
    {
        // The span of receive times around a gap: the items before and after it; only the one after for a
        // gap at the start of the epoch.
        const string before = "CASE WHEN at_start = 1 THEN t ELSE prev_t END";
        string overlaps = Ranged(q)
            ? $" AND (CASE WHEN t > {before} THEN t ELSE {before} END) >= @from AND (CASE WHEN t < {before} THEN t ELSE {before} END) < @to"
            : "";
        return $"""
            WITH present AS (
                SELECT agent, epoch, sequence, received_ms AS t, epoch_start_sequence AS start, sequence AS stored
                FROM batches WHERE 1 = 1{OfAgent(q, "agent")}
                UNION ALL
                SELECT agent, epoch, sequence, MIN(first_ms), NULL, NULL
                FROM refusals WHERE 1 = 1{OfAgent(q, "agent")}
                GROUP BY agent, epoch, sequence
            ),
            ordered AS (
                SELECT agent, epoch, sequence, t,
                       LAG(sequence) OVER w AS prev, LAG(t) OVER w AS prev_t,
                       MIN(start) OVER e AS start, MAX(stored) OVER e AS last_stored
                FROM present
                WINDOW w AS (PARTITION BY agent, epoch ORDER BY sequence), e AS (PARTITION BY agent, epoch)
            ),
            spans AS (
                SELECT agent, epoch, sequence, t, prev_t, start,
                       CASE WHEN prev IS NULL OR prev < start THEN 1 ELSE 0 END AS at_start,
                       CASE WHEN prev IS NULL OR prev < start THEN start ELSE prev + 1 END AS lo
                FROM ordered
                WHERE sequence > start AND sequence <= last_stored
            ),
            gaps AS MATERIALIZED (
                SELECT agent, epoch, lo, sequence - 1 AS hi, sequence - lo AS size, t
                FROM spans
                WHERE sequence > lo{overlaps}
            )
            SELECT agent, NULL, 0, 0, {StoreSql.SaturatingSum("size")} FROM gaps GROUP BY agent
            UNION ALL
            SELECT agent, epoch, lo, hi, NULL FROM (
                SELECT agent, epoch, lo, hi, ROW_NUMBER() OVER (PARTITION BY agent ORDER BY t, epoch, lo) AS n FROM gaps
            ) g WHERE n <= {MaxGapRanges}
            """;
    }

    /// <summary>agent, refused keys, their events, keys refused as taken by other content.</summary>
    internal static string Refusals(DeliveryQuery q) => $"""
        SELECT agent, COUNT(*), CAST(SUM(events) AS BIGINT), CAST(SUM(conflict) AS BIGINT) FROM (
            SELECT agent, MAX(event_count) AS events, MAX(CASE WHEN status = '{ConflictStatus}' THEN 1 ELSE 0 END) AS conflict,
                   MIN(first_ms) AS first_ms
            FROM refusals WHERE 1 = 1{OfAgent(q, "agent")}
            GROUP BY agent, epoch, sequence
        ) k WHERE 1 = 1{InRange(q, "first_ms")}
        GROUP BY agent
        """;

    /// <summary>The agent's batches as items (agent, k, t, made, src, id) keyed by epoch.</summary>
    private static string EpochItems(DeliveryQuery q) =>
        $"SELECT agent, epoch AS k, received_ms AS t, created_ms AS made, 0 AS src, id FROM batches WHERE 1 = 1{OfAgent(q, "agent")}";

    /// <summary>The agent's batches and heartbeats as items keyed by boot id (those without one left out).</summary>
    private static string BootIdItems(DeliveryQuery q) => $"""
        SELECT agent, boot_id AS k, received_ms AS t, created_ms AS made, 0 AS src, id FROM batches WHERE boot_id <> ''{OfAgent(q, "agent")}
        UNION ALL
        SELECT agent, boot_id, received_ms, time_ms, 1, 0 FROM heartbeats WHERE boot_id <> ''{OfAgent(q, "agent")}
        """;

    /// <summary>agent, alternations: items whose key comes back after another key, among the items not held back (see the remarks).</summary>
    internal static string Alternations(DeliveryQuery q, string items) => $"""
        WITH items AS (
        {items}
        ),
        received AS (
            SELECT agent, k, t, made, ROW_NUMBER() OVER w AS pos,
                   MAX(made) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS made_before
            FROM items
            WINDOW w AS (PARTITION BY agent ORDER BY t, made, src, id)
        ),
        changes AS (
            SELECT agent, k, t, pos, LAG(k) OVER (PARTITION BY agent ORDER BY pos) AS prev_k
            FROM received
            WHERE made_before IS NULL OR made >= made_before
        ),
        runs AS (
            SELECT agent, k, t, ROW_NUMBER() OVER (PARTITION BY agent, k ORDER BY pos) AS nth
            FROM changes
            WHERE prev_k IS NULL OR prev_k <> k
        )
        SELECT agent, COUNT(*) FROM runs WHERE nth > 1{InRange(q, "t")} GROUP BY agent
        """;

    private sealed class Builder
    {
        public required string AgentId;
        public long RefusalsUnrecorded;
        public int Epochs;
        public long Explained;
        public string LatestEpoch = "";
        public long Missing;
        public readonly List<SequenceGap> Gaps = [];
        public long RefusedBatches;
        public long RefusedEvents;
        public long Conflicts;
        public bool InterleavedEpochs;
        public bool InterleavedBootIds;

        public DeliveryFacts Build() => new()
        {
            AgentId = AgentId,
            Epochs = Epochs,
            LatestEpoch = LatestEpoch,
            MissingSequences = Missing,
            ExplainedByAgent = Explained,
            Gaps = Gaps,
            RefusedBatches = RefusedBatches,
            RefusedEvents = RefusedEvents,
            Conflicts = Conflicts,
            RefusalsUnrecorded = RefusalsUnrecorded,
            InterleavedEpochs = InterleavedEpochs,
            InterleavedBootIds = InterleavedBootIds,
        };
    }
}
