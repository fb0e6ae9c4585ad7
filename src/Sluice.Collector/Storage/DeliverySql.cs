using System.Data.Common;

namespace Sluice.Collector.Storage;

/// <summary>
/// <see cref="IEventStore.GetDeliveryFactsAsync"/>: the delivery facts of agents, in SQL that SQLite and PostgreSQL both
/// accept. Nothing loops over an agent's batches in C#, and no statement sorts them: each reads an index in its
/// order (<see cref="StoreSchema.DeliveryIndexes"/>), so that an agent with a million batches costs a pass over one
/// index, not a sort and a million rows sent to the collector.
/// </summary>
/// <remarks>
/// <para>
/// Missing sequences of an epoch: from its <c>epoch_start_sequence</c> (the least its batches carry) to its highest
/// stored sequence, those neither stored nor refused. Counted from aggregates over the key: the span, less the
/// batches stored in it, less the refused keys in it that are not stored. Their ranges come from LAG over the key
/// order, stopping after the first few; refused keys inside a range split it.
/// </para>
/// <para>
/// Interleaving: per epoch (its batches) or per boot id (batches and heartbeats), when its items were received
/// (first, last) and made by the agent's clock (a batch's created time, a heartbeat's time). A key alternates
/// with one that began to arrive before it (A, B, A in received order) when their received spans overlap. That
/// alone is also what one agent does when it changes epoch with batches still in flight, or reboots with batches
/// of the old boot still in its spool: those were made before the new key's first item. So it counts only when
/// the made spans overlap as well: both keys produced at the same time, two spools or two machines.
/// </para>
/// <para>
/// With a time range: missing sequences of gaps whose surrounding batches (the stored ones before and after;
/// for a gap at an epoch's start, the one after) were received over a span that meets the range; refusals first
/// seen in it; and, over the batches (and heartbeats) received in it: the epochs, the latest one, the
/// interleaving and what the agent explained. <c>refusals_unrecorded</c> has no time and is always counted.
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
                Explained = Saturating.Add(r.GetInt64(3), r.GetInt64(4)),
            };
        }, ct);
        await ReadAsync(connection, transaction, query, Spans(query, EpochSpans(query)), r =>
        {
            if (facts.TryGetValue(r.GetInt64(0), out var f))
            {
                f.Epochs = (int)Math.Min(r.GetInt64(1), int.MaxValue);
                f.InterleavedEpochs = r.GetInt64(2) > 0;
                f.LatestEpoch = r.GetString(3);
            }
        }, ct);
        await ReadAsync(connection, transaction, query, Spans(query, BootIdSpans(query)), r =>
        {
            if (facts.TryGetValue(r.GetInt64(0), out var f))
            {
                f.InterleavedBootIds = r.GetInt64(2) > 0;
            }
        }, ct);
        await ReadAsync(connection, transaction, query, Refusals(query), r =>
        {
            if (facts.TryGetValue(r.GetInt64(0), out var f))
            {
                (f.RefusedBatches, f.RefusedEvents, f.Conflicts) = (r.GetInt64(1), r.GetInt64(2), r.GetInt64(3));
            }
        }, ct);
        await ReadGapsAsync(connection, transaction, query, facts, ct);
        var list = facts.Values.Select(f => f.Build()).ToList();
        list.Sort((x, y) => string.CompareOrdinal(x.AgentId, y.AgentId));
        return list;
    }

    /// <summary>Missing sequences per agent, and the first <see cref="MaxGapRanges"/> ranges of each agent that has some.</summary>
    private static async Task ReadGapsAsync(DbConnection c, DbTransaction tx, DeliveryQuery query, Dictionary<long, Builder> facts, CancellationToken ct)
    {
        // Candidate ranges per agent: between stored batches (or from an epoch's start), before refused keys are taken out.
        var candidates = new Dictionary<long, List<SequenceGap>>();
        void Candidate(long agent, string epoch, long from, long to)
        {
            if (!candidates.TryGetValue(agent, out var list))
            {
                candidates[agent] = list = [];
            }
            list.Add(new SequenceGap(epoch, (ulong)from, (ulong)to));
        }
        if (Ranged(query))
        {
            await ReadAsync(c, tx, query, RangedGaps(query), r =>
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
                    Candidate(r.GetInt64(0), r.GetString(1), r.GetInt64(2), r.GetInt64(3));
                }
            }, ct);
        }
        else
        {
            // Counted from aggregates; the ranges only for the epochs that miss some, from their start and by LAG.
            var epochs = new List<(long Agent, string Epoch)>();
            await ReadAsync(c, tx, query, MissingPerEpoch(query), r =>
            {
                if (facts.TryGetValue(r.GetInt64(0), out var f))
                {
                    f.Missing = Saturating.Add(f.Missing, r.GetInt64(2));
                    epochs.Add((r.GetInt64(0), r.GetString(1)));
                    if (r.GetInt64(4) > r.GetInt64(3))
                    {
                        Candidate(r.GetInt64(0), r.GetString(1), r.GetInt64(3), r.GetInt64(4) - 1);
                    }
                }
            }, ct);
            epochs.Sort((x, y) => x.Agent != y.Agent ? x.Agent.CompareTo(y.Agent) : string.CompareOrdinal(x.Epoch, y.Epoch));
            foreach (var (agent, epoch) in epochs)
            {
                if (candidates.TryGetValue(agent, out var found) && found.Count >= MaxGapRanges + facts[agent].RefusedBatches)
                {
                    continue;
                }
                await ReadAsync(c, tx, null, GapsInEpoch, r => Candidate(agent, epoch, r.GetInt64(0), r.GetInt64(1)), ct,
                    ("agent_ref", agent), ("epoch", epoch), ("limit", MaxGapRanges + facts[agent].RefusedBatches));
            }
        }
        foreach (var (agent, list) in candidates)
        {
            var refused = new Dictionary<string, List<ulong>>(StringComparer.Ordinal);
            if (facts[agent].RefusedBatches > 0)
            {
                await ReadAsync(c, tx, null, RefusedKeys, r =>
                {
                    if (!refused.TryGetValue(r.GetString(0), out var keys))
                    {
                        refused[r.GetString(0)] = keys = [];
                    }
                    keys.Add((ulong)r.GetInt64(1));
                }, ct, ("agent_ref", agent));
            }
            facts[agent].Gaps.AddRange(Split(list, refused).Take(MaxGapRanges));
        }
    }

    /// <summary>The ranges in key order with the refused sequences inside them taken out.</summary>
    private static IEnumerable<SequenceGap> Split(List<SequenceGap> candidates, Dictionary<string, List<ulong>> refused)
    {
        foreach (var keys in refused.Values)
        {
            keys.Sort();
        }
        candidates.Sort((x, y) => string.CompareOrdinal(x.Epoch, y.Epoch) is int e and not 0 ? e : x.From.CompareTo(y.From));
        foreach (var gap in candidates)
        {
            ulong from = gap.From;
            if (refused.TryGetValue(gap.Epoch, out var keys))
            {
                int i = keys.BinarySearch(gap.From);
                for (i = i < 0 ? ~i : i; i < keys.Count && keys[i] <= gap.To; i++)
                {
                    if (keys[i] > from)
                    {
                        yield return gap with { From = from, To = keys[i] - 1 };
                    }
                    from = keys[i] + 1;
                }
            }
            if (from <= gap.To)
            {
                yield return gap with { From = from };
            }
        }
    }

    private static Task ReadAsync(DbConnection c, DbTransaction tx, DeliveryQuery query, string sql, Action<DbDataReader> row, CancellationToken ct) =>
        ReadAsync(c, tx, query, sql, row, ct, []);

    private static async Task ReadAsync(
        DbConnection c, DbTransaction tx, DeliveryQuery? query, string sql, Action<DbDataReader> row, CancellationToken ct,
        params (string Name, object Value)[] parameters)
    {
        await using var command = c.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        command.CommandTimeout = 0;
        if (query?.AgentId is not null)
        {
            StoreSql.Add(command, "agent", query.AgentId);
        }
        if (query is not null && Ranged(query))
        {
            StoreSql.Add(command, "from", query.FromUnixMs ?? long.MinValue);
            StoreSql.Add(command, "to", query.ToUnixMs ?? long.MaxValue);
        }
        foreach (var (name, value) in parameters)
        {
            StoreSql.Add(command, name, value);
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

    /// <summary>agent id, agent_id, refusals_unrecorded, spool_dropped_batches and spool_corrupt_batches reported (batches_spool_loss).</summary>
    internal static string Agents(DeliveryQuery q) => $"""
        SELECT a.id, a.agent_id, a.refusals_unrecorded, COALESCE(s.dropped, 0), COALESCE(s.corrupt, 0)
        FROM agents a LEFT JOIN (
            SELECT agent, {StoreSql.SaturatingSum("spool_dropped_batches")} AS dropped, {StoreSql.SaturatingSum("spool_corrupt_batches")} AS corrupt
            FROM batches
            WHERE (spool_dropped_batches > 0 OR spool_corrupt_batches > 0){OfAgent(q, "agent")}{InRange(q, "received_ms")}
            GROUP BY agent
        ) s ON s.agent = a.id
        WHERE 1 = 1{(q.AgentId is null ? "" : " AND a.agent_id = @agent")}
        """;

    /// <summary>Per agent and epoch, the spans of its batches (batches_key_cover, in its order).</summary>
    private static string EpochSpans(DeliveryQuery q) => $"""
        SELECT agent, epoch AS k, MIN(received_ms) AS recv_lo, MAX(received_ms) AS recv_hi, MIN(created_ms) AS made_lo, MAX(created_ms) AS made_hi
        FROM batches WHERE 1 = 1{OfAgent(q, "agent")}{InRange(q, "received_ms")}
        GROUP BY agent, epoch
        """;

    /// <summary>Per agent and boot id, the spans of its batches (batches_agent_boot) and of its heartbeats.</summary>
    private static string BootIdSpans(DeliveryQuery q) => $"""
        SELECT agent, boot_id AS k, MIN(received_ms) AS recv_lo, MAX(received_ms) AS recv_hi, MIN(created_ms) AS made_lo, MAX(created_ms) AS made_hi
        FROM batches WHERE boot_id <> ''{OfAgent(q, "agent")}{InRange(q, "received_ms")}
        GROUP BY agent, boot_id
        UNION ALL
        SELECT agent, boot_id, MIN(received_ms), MAX(received_ms), MIN(time_ms), MAX(time_ms)
        FROM heartbeats WHERE boot_id <> ''{OfAgent(q, "agent")}{InRange(q, "received_ms")}
        GROUP BY agent, boot_id
        """;

    /// <summary>
    /// agent, keys, keys that interleave with another (their received spans overlap, and so do their made spans),
    /// and the key received last. Overlap with another key is found in the order of the spans' starts: with the
    /// latest end among those that start before, or with the start of the one after. Received spans that touch
    /// count (the collector's clock has milliseconds, and two items may share one); made spans must overlap.
    /// </summary>
    internal static string Spans(DeliveryQuery q, string spans) => $"""
        WITH spans AS (
            SELECT agent, k, MIN(recv_lo) AS recv_lo, MAX(recv_hi) AS recv_hi, MIN(made_lo) AS made_lo, MAX(made_hi) AS made_hi
            FROM (
            {spans}
            ) s
            GROUP BY agent, k
        ),
        ordered AS (
            SELECT agent, k, recv_lo, recv_hi, made_lo, made_hi,
                   MAX(recv_hi) OVER recv_before AS recv_before_hi, LEAD(recv_lo) OVER by_recv AS recv_next_lo,
                   MAX(made_hi) OVER made_before AS made_before_hi, LEAD(made_lo) OVER by_made AS made_next_lo,
                   ROW_NUMBER() OVER (PARTITION BY agent ORDER BY recv_hi DESC, k DESC) AS latest
            FROM spans
            WINDOW by_recv AS (PARTITION BY agent ORDER BY recv_lo, k),
                   recv_before AS (by_recv ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
                   by_made AS (PARTITION BY agent ORDER BY made_lo, k),
                   made_before AS (by_made ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
        )
        SELECT agent, COUNT(*),
               SUM(CASE WHEN (recv_lo <= recv_before_hi OR recv_next_lo <= recv_hi) AND (made_lo < made_before_hi OR made_next_lo < made_hi)
                        THEN 1 ELSE 0 END),
               MAX(CASE WHEN latest = 1 THEN k END)
        FROM ordered
        GROUP BY agent
        """;

    /// <summary>
    /// agent, epoch, missing sequences, epoch start, lowest stored sequence: for each epoch that misses some. The
    /// span from the start to the highest stored sequence, less the batches stored in it, less the refused keys in
    /// it not stored (batches_key_cover and the refusals key, no pass over more than the aggregate).
    /// </summary>
    internal static string MissingPerEpoch(DeliveryQuery q) => $"""
        WITH e0 AS (
            SELECT agent, epoch, MIN(epoch_start_sequence) AS start0, MIN(sequence) AS first_seq, MAX(sequence) AS last, COUNT(*) AS n
            FROM batches WHERE 1 = 1{OfAgent(q, "agent")}
            GROUP BY agent, epoch
        ),
        e AS ({PrunedStart("first_seq, last, n")}),
        m AS (
            SELECT agent, epoch, start, first_seq,
                   (last - start + 1)
                   - (n - (SELECT COUNT(*) FROM batches x WHERE x.agent = e.agent AND x.epoch = e.epoch AND x.sequence < e.start))
                   - (SELECT COUNT(DISTINCT r.sequence) FROM refusals r
                      WHERE r.agent = e.agent AND r.epoch = e.epoch AND r.sequence >= e.start AND r.sequence <= e.last
                        AND NOT EXISTS (SELECT 1 FROM batches b WHERE b.agent = r.agent AND b.epoch = r.epoch AND b.sequence = r.sequence)) AS missing
            FROM e
            WHERE last >= start
        )
        SELECT agent, epoch, missing, start, first_seq FROM m WHERE missing > 0
        """;

    /// <summary>
    /// Each epoch of <c>e0</c> with its <c>start</c>: the least <c>epoch_start_sequence</c> its batches carry, or, when
    /// a prune deleted its first batches, the sequence after the last one it deleted (<c>pruned_epochs</c>): those
    /// were stored once, and are not missing.
    /// </summary>
    private static string PrunedStart(string columns) => $"""
        SELECT e0.agent, e0.epoch, {columns},
               CASE WHEN p.next_sequence > e0.start0 THEN p.next_sequence ELSE e0.start0 END AS start
        FROM e0 LEFT JOIN pruned_epochs p ON p.agent = e0.agent AND p.epoch = e0.epoch
        """;

    /// <summary>Ranges between consecutive stored batches of one epoch (@agent_ref, @epoch), in key order, the first @limit (LAG over the key; stops there).</summary>
    internal const string GapsInEpoch = """
        SELECT prev + 1, sequence - 1 FROM (
            SELECT sequence, LAG(sequence) OVER (ORDER BY sequence) AS prev
            FROM batches WHERE agent = @agent_ref AND epoch = @epoch
        ) g
        WHERE sequence - prev > 1
        LIMIT @limit
        """;

    /// <summary>epoch, sequence of the refused keys of one agent (@agent_ref).</summary>
    internal const string RefusedKeys = "SELECT DISTINCT epoch, sequence FROM refusals WHERE agent = @agent_ref";

    /// <summary>
    /// With a time range: rows (agent, NULL, 0, 0, missing sequences) with the total per agent, and (agent, epoch, from,
    /// to, NULL) for the ranges that hold some, in key order, enough of them that the first few remain once refused
    /// keys are taken out. LAG over batches_key_cover.
    /// </summary>
    internal static string RangedGaps(DeliveryQuery q)
    {
        const string before = "CASE WHEN prev_t IS NULL THEN t ELSE prev_t END";
        return $"""
            WITH e0 AS (
                SELECT agent, epoch, MIN(epoch_start_sequence) AS start0, MIN(sequence) AS first_seq
                FROM batches WHERE 1 = 1{OfAgent(q, "agent")}
                GROUP BY agent, epoch
            ),
            e AS ({PrunedStart("first_seq")}),
            lagged AS (
                SELECT agent, epoch, sequence, received_ms AS t, LAG(sequence) OVER w AS prev, LAG(received_ms) OVER w AS prev_t
                FROM batches WHERE 1 = 1{OfAgent(q, "agent")}
                WINDOW w AS (PARTITION BY agent, epoch ORDER BY sequence)
            ),
            spans AS (
                SELECT l.agent, l.epoch, CASE WHEN l.prev + 1 < e.start THEN e.start ELSE l.prev + 1 END AS lo, l.sequence - 1 AS hi, l.t, l.prev_t
                FROM lagged l JOIN e ON e.agent = l.agent AND e.epoch = l.epoch
                WHERE l.sequence - l.prev > 1
                UNION ALL
                SELECT e.agent, e.epoch, e.start, e.first_seq - 1, b.received_ms, NULL
                FROM e JOIN batches b ON b.agent = e.agent AND b.epoch = e.epoch AND b.sequence = e.first_seq
                WHERE e.first_seq > e.start
            ),
            gaps AS MATERIALIZED (
                SELECT agent, epoch, lo, hi,
                       hi - lo + 1 - (SELECT COUNT(DISTINCT r.sequence) FROM refusals r
                                      WHERE r.agent = s.agent AND r.epoch = s.epoch AND r.sequence >= s.lo AND r.sequence <= s.hi) AS size
                FROM spans s
                WHERE hi >= lo
                  AND (CASE WHEN t > {before} THEN t ELSE {before} END) >= @from
                  AND (CASE WHEN t < {before} THEN t ELSE {before} END) < @to
            )
            SELECT agent, NULL, 0, 0, {StoreSql.SaturatingSum("size")} FROM gaps WHERE size > 0 GROUP BY agent
            UNION ALL
            SELECT agent, epoch, lo, hi, NULL FROM (
                SELECT agent, epoch, lo, hi, ROW_NUMBER() OVER (PARTITION BY agent ORDER BY epoch, lo) AS n FROM gaps WHERE size > 0
            ) g
            WHERE n <= {MaxGapRanges} + (SELECT COUNT(*) FROM refusals r WHERE r.agent = g.agent)
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
